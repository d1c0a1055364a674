"""``rabbit://user:pass@host1:5672,host2:5672/vhost``: the RabbitMQ transport (AMQP 0-9-1).

**Wire.** Exactly oslo.messaging's rabbit driver, so anker and oslo services share queues:

* the control exchange (``Target.exchange`` or the ``exchange`` option, ``openstack`` by
  default) is a ``topic`` exchange, durable when ``durable`` or ``quorum`` is on;
* a request goes to the control exchange with the routing key ``T`` or ``T.S``; a fanout to
  the ``fanout`` exchange ``T_fanout`` (auto-delete, declared before every fanout send, since
  the broker deletes it with its last queue);
* an RPC server consumes ``T`` and ``T.S`` (bound to the control exchange) and its own
  ``T_fanout_<uuid hex>`` (bound to ``T_fanout``, ``x-expires`` = ``queue_expiry``, deleted
  when the subscription ends);
* every message has ``content_type=application/json``, ``content_encoding=utf-8``,
  ``delivery_mode=2`` (persistent, as oslo sends it whatever the queues), ``priority=0``,
  ``headers={}``; a message with a time to live (calls; casts and notifications that ask for
  one) carries ``expiration`` in milliseconds, so the broker drops it once expired, and the
  consumer sees its :attr:`~anker.messaging.Incoming.deadline` (counted from delivery, an
  upper bound) so a message that waits too long in the process is not dispatched either;
* a notification goes to the control exchange with the key ``<topic>.<priority>``; the
  notifier declares the queue of that name (bound with that key) so nothing is lost before a
  listener exists; a listener of pool ``P`` consumes the queue ``P`` bound with every key;
* replies go to the default exchange with the reply queue's name as key and ``mandatory``
  set, so a reply to a queue that is gone comes back (``basic.return``) and
  :meth:`RabbitTransport.send_reply` returns False.

**Reply queue.** One per transport, ``reply_<uuid hex>``, non-exclusive, non-durable (as
oslo's), ``x-expires`` = ``queue_expiry``; it keeps its name across reconnections, is consumed
without acknowledgements, and is deleted by :meth:`RabbitTransport.aclose`.

**Quorum queues and poison messages.** With ``quorum=true`` the shared queues (``T``, ``T.S``,
notification queues) are declared ``x-queue-type=quorum`` (fanout and reply queues stay
transient classic queues, as oslo's). With ``delivery_limit=N`` they also get
``x-delivery-limit=N`` (quorum only: the broker counts deliveries) and a dead-letter route: each
queue ``Q`` is declared with ``x-dead-letter-exchange=""`` and
``x-dead-letter-routing-key=Q.dlq``, and the durable queue ``Q.dlq`` (quorum too, with
``quorum``) is declared next to it. A message rejected for good (an unreadable body, or
:meth:`~anker.messaging.Incoming.reject`) or delivered more than ``N`` times ends up in
``Q.dlq``, where an operator can inspect, move or purge it. Without ``delivery_limit`` a
rejected message is dropped (and logged). All processes sharing a queue must agree on these
options: RabbitMQ refuses to redeclare a queue with other arguments.

**Publishing.** One channel with publisher confirms carries every publish of the transport;
publishes are pipelined (a send waits for its own confirm, not for the others'). ``send``,
``notify`` and ``send_reply`` return once the broker confirmed; a ``basic.nack`` raises
:class:`~anker.messaging.DeliveryFailure`. Consumers each have a channel of their own, with
``basic.qos`` set to the prefetch (per queue consumed).

**Reconnection.** A small supervisor (plain aiormq connections, not aio-pika's robust
connection, which knows neither several hosts nor whether a queue survived) watches the
connection. When it drops, the supervisor connects again, trying the hosts in order, with
exponential backoff and jitter (0.1 s doubling up to 2 s), declares every consumer's queues
and bindings again and re-creates its consumer, and redeclares the reply queue under the same
name. If the reply queue no longer existed (a broker restart lost it, or it expired while the
process was away), the calls waiting for replies fail at once with
:class:`~anker.messaging.DeliveryFailure` rather than time out. A send issued, or waiting for
its confirm, while disconnected is published again on the new connection (at least once;
duplicates carry the same ``_unique_id``) until ``timeout`` runs out, then raises
:class:`~anker.messaging.TransportUnavailable`. A message delivered on a connection that was
lost is redelivered by the broker; settling the old delivery does nothing.

**URL.** ``rabbit://[user:password@]host[:port][,...][/vhost][?options]``: the path is the
virtual host (none, or ``/``, is ``/``); each host may carry its own credentials (else the
first host's, else guest/guest). Besides the common options of
:class:`~anker.messaging.TransportOptions` it takes ``heartbeat`` (seconds, default 60, 0 for
none). Passwords never appear in errors or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Final

from anker._drivers import require
from anker.messaging import _wire
from anker.messaging._errors import (
    DeliveryFailure,
    InvalidMessage,
    TransportClosed,
    TransportUnavailable,
)
from anker.messaging._transport import (
    Handler,
    Incoming,
    ReplyHandler,
    Subscription,
    Transport,
    TransportOptions,
)

if TYPE_CHECKING:
    from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

    from anker._url import BackendURL, Endpoint
    from anker.messaging._target import Target

__all__ = ["RabbitTransport"]

log = logging.getLogger("anker.messaging.rabbit")

NEEDED_FOR: Final = "the rabbit:// messaging transport"
DEFAULT_PORT: Final = 5672
DEFAULT_HEARTBEAT: Final = 60
CONTENT_TYPE: Final = "application/json"
CONTENT_ENCODING: Final = "utf-8"
PERSISTENT: Final = 2
#: Reconnection backoff: the first delay, and the longest one (each gets 50-100 % jitter).
BACKOFF_FIRST: Final = 0.1
BACKOFF_MAX: Final = 2.0


class _Lost(Exception):
    """The connection (or the channel in use) went away: try again on the next one."""


@dataclass(frozen=True, slots=True)
class _Exchange:
    name: str
    kind: str  # "topic" or "fanout"
    durable: bool
    auto_delete: bool


@dataclass(frozen=True, slots=True)
class _QueueSpec:
    """A queue a consumer reads: declared (with its bindings) on every connection."""

    name: str
    durable: bool
    arguments: dict[str, Any]
    bindings: tuple[tuple[_Exchange, str], ...] = ()
    dead_letter: tuple[str, dict[str, Any]] | None = None  # the DLQ's name and arguments
    owned: bool = False  # the subscription's own queue (fanout): deleted when it ends


@dataclass(eq=False, slots=True)
class _Link:
    """One connection and what was set up on it; a new one after every reconnection."""

    connection: AbstractConnection
    publisher: AbstractChannel
    admin: AbstractChannel  # declarations for publishers (a refusal closes only this)
    endpoint: str
    generation: int
    declared: dict[Any, asyncio.Future[None]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def up(self) -> bool:
        return not self.connection.is_closed


def _ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return "timed out"
    return text


class _RabbitIncoming(Incoming):
    __slots__ = ("_channel", "_consumer", "_tag")

    def __init__(
        self,
        message: dict[str, Any],
        *,
        where: str,
        redelivered: bool,
        ttl: float | None,
        consumer: _Consumer,
        channel: AbstractChannel,
        tag: int,
    ) -> None:
        super().__init__(message, where=where, redelivered=redelivered, ttl=ttl)
        self._consumer = consumer
        self._channel = channel
        self._tag = tag

    async def _ack(self) -> None:
        await self._consumer.settle(self, "ack")

    async def _requeue(self) -> None:
        await self._consumer.settle(self, "requeue")

    async def _reject(self) -> None:
        await self._consumer.settle(self, "reject")


class _Consumer(Subscription):
    """A subscription: one channel consuming its queues, re-created on every connection."""

    def __init__(
        self,
        transport: RabbitTransport,
        queues: Sequence[_QueueSpec],
        *,
        handler: Handler | None = None,
        replies: ReplyHandler | None = None,
        prefetch: int = 0,
    ) -> None:
        self.transport = transport
        self.queues = list(queues)
        self.handler = handler
        self.replies = replies
        self.prefetch = prefetch
        self.channel: AbstractChannel | None = None
        self.tags: list[str] = []
        self.generation = -1
        self.unsettled = 0
        self.active = True
        self.attached_once = False
        self.finished = False
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<rabbit consumer of {', '.join(q.name for q in self.queues)}>"

    # -- setting up -----------------------------------------------------------------------

    async def attach(self, link: _Link, timeout: float) -> None:
        """Declare the queues and consume them on a new channel of ``link`` (once per link)."""
        lost_reply_queue = False
        async with self._lock:
            if not self.active or self.generation == link.generation:
                return
            connection = link.connection
            async with asyncio.timeout(timeout):
                if self.replies is not None and self.attached_once:
                    lost_reply_queue = not await self.transport._queue_exists(
                        connection, self.queues[0].name
                    )
                channel = await connection.channel(publisher_confirms=False)
                try:
                    if self.replies is None:
                        await channel.basic_qos(prefetch_count=self.prefetch)
                    for spec in self.queues:
                        await _declare_queue(channel, spec)
                    # deliveries may come before the last basic.consume-ok: take them
                    self.channel, self.tags, self.unsettled = channel, [], 0
                    for spec in self.queues:
                        callback = functools.partial(self._on_message, spec.name, channel)
                        ok = await channel.basic_consume(
                            spec.name, callback, no_ack=self.replies is not None
                        )
                        self.tags.append(str(ok.consumer_tag))
                except BaseException:
                    if self.channel is channel:
                        self.channel = None
                    with contextlib.suppress(Exception):
                        await asyncio.shield(channel.close())
                    raise
            channel.on_consumer_cancel_callbacks.add(self._on_broker_cancel)
            self.generation = link.generation
            self.attached_once = True
        if lost_reply_queue:
            name = self.queues[0].name
            log.warning("reply queue %s was lost by the broker; waiting calls fail", name)
            self.transport.reply_queue_lost(
                f"the broker lost reply queue {name} (it restarted, or the queue expired while "
                "the connection was down): the reply can never arrive",
            )

    def _on_broker_cancel(self, frame: Any) -> None:
        """The broker ended a consumer (its queue was deleted): set it up again."""
        if self.active and not self.transport._closed:
            log.warning("the broker cancelled the consumer of %s; consuming again", self)
            self.generation = -1
            self.transport._spawn(self.transport._reattach(self))

    # -- deliveries -----------------------------------------------------------------------

    async def _on_message(
        self, where: str, channel: AbstractChannel, message: DeliveredMessage
    ) -> None:
        try:
            await self._take(where, channel, message)
        except Exception:
            # whatever a message holds, it must not wedge the consumer holding a prefetch slot
            log.exception("rejected a message from queue %s that could not be taken", where)
            if self.replies is None:
                delivery: Any = message.delivery
                nack = channel.basic_nack(int(delivery.delivery_tag), requeue=False, wait=False)
                await _quietly(nack, "reject", where)

    async def _take(self, where: str, channel: AbstractChannel, message: DeliveredMessage) -> None:
        if self.replies is not None:
            try:
                inner = _wire.unwrap(message.body, where)
            except InvalidMessage as exc:
                log.error("dropped a reply that cannot be read: %s", exc)
                return
            self.replies(inner)
            return
        delivery: Any = message.delivery
        tag = int(delivery.delivery_tag)
        if not self.active or channel is not self.channel:
            # cancelled (or replaced) since the broker sent it: it goes back to the queue
            await _quietly(channel.basic_nack(tag, requeue=True, wait=False), "requeue", where)
            return
        try:
            inner = _wire.unwrap(message.body, where)
        except InvalidMessage as exc:
            log.error("rejected a message from queue %s that cannot be read: %s", where, exc)
            await _quietly(channel.basic_nack(tag, requeue=False, wait=False), "reject", where)
            return
        expiration = message.header.properties.expiration
        ttl: float | None = None
        if expiration:
            with contextlib.suppress(ValueError):
                ttl = int(expiration) / 1000
        incoming = _RabbitIncoming(
            inner,
            where=where,
            redelivered=bool(delivery.redelivered),
            ttl=ttl,
            consumer=self,
            channel=channel,
            tag=tag,
        )
        self.unsettled += 1
        assert self.handler is not None
        try:
            self.handler(incoming)
        except Exception:
            log.exception("a message handler raised; the message goes back to its queue")
            await incoming.requeue()

    async def settle(self, incoming: _RabbitIncoming, how: str) -> None:
        channel = incoming._channel
        if channel is not self.channel or channel.is_closed:
            log.debug(
                "could not %s a message from %s: its channel is gone (the broker redelivers it)",
                how,
                incoming.where,
            )
            return
        self.unsettled -= 1
        tag = incoming._tag
        if how == "ack":
            settled = channel.basic_ack(tag, wait=False)
        else:
            settled = channel.basic_nack(tag, requeue=how == "requeue", wait=False)
        await _quietly(settled, how, incoming.where)
        if not self.active and self.unsettled <= 0:
            await self._finish()

    # -- ending ---------------------------------------------------------------------------

    async def cancel(self) -> None:
        if not self.active:
            return
        self.active = False
        self.transport._consumers.discard(self)
        async with self._lock:
            channel = self.channel
            if channel is not None and not channel.is_closed:
                try:
                    async with asyncio.timeout(self.transport.options.timeout):
                        for tag in self.tags:
                            await channel.basic_cancel(tag)
                        for spec in self.queues:
                            if spec.owned:
                                await channel.queue_delete(spec.name)
                except Exception as exc:
                    log.debug("cancelling %s: %s", self, _describe(exc))
            if self.unsettled <= 0:
                await self._finish()

    async def _finish(self) -> None:
        """Close the channel once nothing delivered on it waits to be settled."""
        if self.finished:
            return
        self.finished = True
        channel, self.channel = self.channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.transport.options.timeout):
                    await channel.close()


async def _quietly(settle: Any, how: str, where: str) -> None:
    try:
        await settle
    except Exception as exc:
        log.debug(
            "could not %s a message from %s (%s): the broker redelivers it",
            how,
            where,
            _describe(exc),
        )


async def _declare_queue(channel: AbstractChannel, spec: _QueueSpec) -> None:
    if spec.dead_letter is not None:
        name, arguments = spec.dead_letter
        await channel.queue_declare(name, durable=True, arguments=arguments)
    for exchange, _ in spec.bindings:
        await channel.exchange_declare(
            exchange.name,
            exchange_type=exchange.kind,
            durable=exchange.durable,
            auto_delete=exchange.auto_delete,
        )
    await channel.queue_declare(spec.name, durable=spec.durable, arguments=spec.arguments)
    for exchange, key in spec.bindings:
        await channel.queue_bind(spec.name, exchange.name, routing_key=key)


class RabbitTransport(Transport):
    """The RabbitMQ transport; see the module documentation.

    .. versionadded:: 0.1
    """

    __module__ = "anker.messaging.transports.rabbit"

    driver_options: ClassVar[frozenset[str]] = frozenset({"heartbeat"})

    def __init__(
        self, url: BackendURL, options: TransportOptions, extra: Mapping[str, str]
    ) -> None:
        super().__init__(url, options, extra)
        heartbeat = self.extra.get("heartbeat")
        try:
            self.heartbeat = DEFAULT_HEARTBEAT if heartbeat is None else int(heartbeat)
        except ValueError:
            raise ValueError(
                f"option heartbeat: expected whole seconds, got {heartbeat!r}"
            ) from None
        if self.heartbeat < 0:
            raise ValueError(f"option heartbeat: must be at least 0, got {heartbeat!r}")
        path = url.path[1:] if url.path.startswith("/") else url.path
        self.vhost = path or "/"
        self.durable = options.durable or options.quorum
        self._aiormq: ModuleType | None = None
        self._errors: ModuleType | None = None
        self._properties: Any = None
        self._link: _Link | None = None
        self._ready: asyncio.Event | None = None
        self._generation = 0
        self._closed = False
        self._last_error = "not connected yet"
        self._supervisor: asyncio.Task[None] | None = None
        self._consumers: set[_Consumer] = set()
        self._replies: _Consumer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connection_name = f"{os.path.basename(sys.argv[0] or 'python')}:{os.getpid()}:" + (
            uuid.uuid4().hex
        )
        self._control = _Exchange(options.exchange, "topic", self.durable, False)

    # -- connecting -----------------------------------------------------------------------

    def _masked(self, text: str) -> str:
        """``text`` with every password of the URL taken out (errors from below may echo)."""
        for endpoint in self.url.endpoints:
            if endpoint.password is not None:
                secret = endpoint.password.reveal()
                if secret:
                    text = text.replace(secret, "***")
        return text

    def _amqp_url(self, endpoint: Endpoint) -> Any:
        yarl = require("yarl", extra="rabbit", needed_for=NEEDED_FOR)
        username, password = endpoint.username, endpoint.password
        if username is None and password is None:
            for other in self.url.endpoints:
                if other.username is not None or other.password is not None:
                    username, password = other.username, other.password
                    break
        return yarl.URL.build(
            scheme="amqp",
            user=username if username is not None else "guest",
            password=password.reveal() if password is not None else "guest",
            host=endpoint.host,
            port=endpoint.port or DEFAULT_PORT,
            path="/" + self.vhost,
            query={"heartbeat": str(self.heartbeat)},
        )

    async def _connect_one(self, endpoint: Endpoint, timeout: float) -> AbstractConnection:
        assert self._aiormq is not None
        connection: AbstractConnection = self._aiormq.Connection(
            self._amqp_url(endpoint),
            client_properties={"connection_name": self._connection_name},
        )
        try:
            async with asyncio.timeout(timeout):
                await connection.connect()
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.close())
            raise
        return connection

    async def _establish(self, budget: float) -> _Link:
        """Connect to the first host that answers and set everything up on it."""
        deadline = time.monotonic() + budget
        endpoints = self.url.endpoints or ()
        if not endpoints:
            raise _Lost("the URL names no host")
        errors: list[str] = []
        for index, endpoint in enumerate(endpoints):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                errors.append(f"{endpoint.render()}: no time left")
                continue
            try:
                connection = await self._connect_one(endpoint, remaining / (len(endpoints) - index))
            except Exception as exc:
                errors.append(f"{endpoint.render()}: {self._masked(_describe(exc))}")
                continue
            try:
                return await self._set_up(connection, endpoint, deadline)
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close())
                if not isinstance(exc, Exception):
                    raise
                errors.append(f"{endpoint.render()}: {self._masked(_describe(exc))}")
        raise _Lost("; ".join(errors))

    async def _set_up(
        self, connection: AbstractConnection, endpoint: Endpoint, deadline: float
    ) -> _Link:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
            publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
            admin = await connection.channel(publisher_confirms=False)
        self._generation += 1
        link = _Link(connection, publisher, admin, endpoint.render(), self._generation)
        consumers = [c for c in (self._replies, *self._consumers) if c is not None]
        for consumer in consumers:
            try:
                # each consumer has a whole timeout: many consumers must not starve the last
                await consumer.attach(link, self.options.timeout)
            except Exception as exc:
                if connection.is_closed:
                    raise
                log.error("could not consume %s again: %s; retrying", consumer, _describe(exc))
                self._spawn(self._reattach(consumer))
        return link

    async def open(self) -> None:
        self._aiormq = require("aiormq", extra="rabbit", needed_for=NEEDED_FOR)
        self._errors = require("aiormq.exceptions", extra="rabbit", needed_for=NEEDED_FOR)
        self._properties = require(
            "pamqp.commands", extra="rabbit", needed_for=NEEDED_FOR
        ).Basic.Properties
        self._ready = asyncio.Event()
        deadline = time.monotonic() + self.options.timeout
        attempt = 0
        while True:
            try:
                self._link = await self._establish(deadline - time.monotonic())
                break
            except _Lost as exc:
                self._last_error = str(exc)
            delay = _backoff(attempt)
            attempt += 1
            if time.monotonic() + delay >= deadline:
                raise TransportUnavailable(str(self.url), "connecting", self._last_error)
            await asyncio.sleep(delay)
        self._ready.set()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        """Wait for the connection to drop; then connect again, until the transport closes."""
        attempt = 0
        while not self._closed:
            link = self._link
            if link is not None:
                await asyncio.wait([link.connection.closing])
                reason = _close_reason(link.connection.closing)
                if self._is_closed():
                    return
                self._lost(link)
                self._last_error = f"the connection to {link.endpoint} was lost ({reason})"
                log.warning("%s; reconnecting", self._masked(self._last_error))
                attempt = 0
            try:
                self._link = await self._establish(self.options.timeout)
            except _Lost as exc:
                self._last_error = f"reconnecting failed: {exc}"
                delay = _backoff(attempt)
                attempt += 1
                log.info("%s; next try in %.1f s", self._last_error, delay)
                await asyncio.sleep(delay)
                continue
            if self._is_closed():  # aclose ran while this connected: it will not see this link
                with contextlib.suppress(Exception):
                    await self._link.connection.close()
                return
            assert self._ready is not None
            self._ready.set()
            log.info("reconnected to %s", self._link.endpoint)

    def _is_closed(self) -> bool:
        return self._closed

    def _lost(self, link: _Link) -> None:
        if self._link is link:
            self._link = None
            if self._ready is not None and not self._closed:
                self._ready.clear()

    async def _connected(self, deadline: float, what: str) -> _Link:
        """The current connection, waiting for the supervisor to make one (until deadline)."""
        while True:
            if self._closed:
                raise TransportClosed(str(self.url))
            link = self._link
            if link is not None:
                if link.up:
                    return link
                self._lost(link)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._ready is None:
                raise TransportUnavailable(
                    str(self.url),
                    what,
                    f"no connection to the broker within {self.options.timeout:g} s "
                    f"({self._masked(self._last_error)})",
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._ready.wait()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reattach(self, consumer: _Consumer) -> None:
        link = self._link
        if link is None or not link.up or self._closed:
            return  # the supervisor sets it up on the next connection
        old = consumer.channel
        if old is not None and not old.is_closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.options.timeout):
                    await old.close()
        attempt = 0
        while consumer.active and not self._closed and link.up and self._link is link:
            try:
                await consumer.attach(link, self.options.timeout)
                return
            except Exception as exc:
                # a server that silently stopped consuming is the worst outcome: keep trying
                # (with backoff) for as long as this connection lives
                delay = _backoff(attempt)
                attempt += 1
                log.error(
                    "could not consume %s again: %s; next try in %.1f s",
                    consumer,
                    _describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)

    async def _queue_exists(self, connection: AbstractConnection, name: str) -> bool:
        assert self._errors is not None
        probe = await connection.channel(publisher_confirms=False)
        try:
            await probe.queue_declare(name, passive=True)
        except self._errors.ChannelNotFoundEntity:
            return False
        finally:
            if not probe.is_closed:
                with contextlib.suppress(Exception):
                    await probe.close()
        return True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.fail_waiting_calls(TransportClosed(str(self.url)))
        if self._ready is not None:
            self._ready.set()  # wake the waiting senders: they see the transport closed
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(BaseException):
                await self._supervisor
        consumers = list(self._consumers)
        self._consumers.clear()
        for consumer in consumers:
            consumer.active = False
        replies, self._replies = self._replies, None
        if replies is not None:
            replies.active = False
        link, self._link = self._link, None
        for task in list(self._tasks):
            task.cancel()
        if link is None or not link.up:
            return
        await self._drop_queues(link, consumers, replies)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.options.timeout):
                await link.connection.close()

    async def _drop_queues(
        self, link: _Link, consumers: list[_Consumer], replies: _Consumer | None
    ) -> None:
        """Stop the consumers, then delete the queues that end with them (fanout, replies)."""
        doomed = [q.name for c in consumers for q in c.queues if q.owned]
        if replies is not None:
            doomed.append(replies.queues[0].name)
        try:
            async with asyncio.timeout(self.options.timeout):
                for consumer in (*consumers, *([replies] if replies is not None else [])):
                    # first, so that deleting their queues does not make the broker cancel them
                    channel, consumer.channel = consumer.channel, None
                    if channel is not None and not channel.is_closed:
                        await channel.close()
                channel = link.admin
                if channel.is_closed:
                    channel = await link.connection.channel(publisher_confirms=False)
                for name in doomed:
                    await channel.queue_delete(name)
        except Exception as exc:
            log.debug("deleting the queues of %s: %s", self, _describe(exc))

    # -- publishing -----------------------------------------------------------------------

    async def _declared(self, link: _Link, key: Any, declare: Any, what: str) -> None:
        """Run ``declare(admin_channel)`` once per connection for ``key``; share the wait."""
        future = link.declared.get(key)
        if future is None:
            future = link.declared[key] = asyncio.get_running_loop().create_future()
            try:
                async with link.lock:
                    admin = link.admin
                    if admin.is_closed:
                        admin = link.admin = await link.connection.channel(publisher_confirms=False)
                    async with asyncio.timeout(self.options.timeout):
                        await declare(admin)
            except BaseException as exc:
                del link.declared[key]
                future.set_exception(exc)
                future.exception()  # retrieved: the waiters get it from here
                raise self._declare_failed(link, exc, what) from None
            future.set_result(None)
        elif not future.done():
            try:
                await asyncio.shield(future)
            except Exception as exc:
                raise self._declare_failed(link, exc, what) from None

    def _declare_failed(self, link: _Link, exc: BaseException, what: str) -> BaseException:
        if not isinstance(exc, Exception):
            return exc
        if not link.up:
            return _Lost(_describe(exc))
        return DeliveryFailure(what, f"the broker refused a declaration: {_describe(exc)}")

    async def _exchange(self, link: _Link, exchange: _Exchange, what: str) -> None:
        async def declare(channel: AbstractChannel) -> None:
            await channel.exchange_declare(
                exchange.name,
                exchange_type=exchange.kind,
                durable=exchange.durable,
                auto_delete=exchange.auto_delete,
            )

        if exchange.auto_delete:  # may be gone since: declared before every send
            link.declared.pop(("exchange", exchange.name), None)
        await self._declared(link, ("exchange", exchange.name), declare, what)

    async def _prepare(
        self, link: _Link, exchange: _Exchange | None, queue: _QueueSpec | None, what: str
    ) -> None:
        """Declare what a publish needs, once per connection (fanout exchanges every time)."""
        if exchange is not None and (
            exchange.auto_delete or ("exchange", exchange.name) not in link.declared
        ):
            await self._exchange(link, exchange, what)
        if queue is not None and ("queue", queue.name) not in link.declared:
            await self._declared(
                link, ("queue", queue.name), functools.partial(_declare_queue, spec=queue), what
            )

    async def _publish(
        self,
        exchange: _Exchange | None,
        routing_key: str,
        body: bytes,
        *,
        what: str,
        message_id: str,
        expiration: str | None = None,
        mandatory: bool = False,
        queue: _QueueSpec | None = None,
    ) -> bool:
        """Publish and wait for the confirm, again on the next connection if this one drops;
        False if the broker returned the (mandatory) message as unroutable."""
        deadline = time.monotonic() + self.options.timeout
        attempt = 0
        while True:
            link = self._link
            if link is None or self._closed or not link.up:
                link = await self._connected(deadline, what)
            channel = link.publisher
            try:
                await self._prepare(link, exchange, queue, what)
                properties = self._properties(
                    content_type=CONTENT_TYPE,
                    content_encoding=CONTENT_ENCODING,
                    headers={},
                    delivery_mode=PERSISTENT,
                    priority=0,
                    expiration=expiration,
                    message_id=message_id,
                )
                return await self._publish_once(
                    link,
                    channel,
                    body,
                    exchange=exchange.name if exchange is not None else "",
                    routing_key=routing_key,
                    properties=properties,
                    mandatory=mandatory,
                    deadline=deadline,
                    what=what,
                )
            except _Lost as exc:
                self._last_error = str(exc)
            # The channel or the connection closed before the broker confirmed.
            if link.up and channel.is_closed:
                await self._new_publisher(link, channel)
            if self._closed:
                raise TransportClosed(str(self.url))
            if time.monotonic() >= deadline:
                raise TransportUnavailable(
                    str(self.url),
                    what,
                    "the connection was lost before the broker confirmed the message "
                    f"({self._masked(self._last_error)})",
                )
            attempt += 1
            await asyncio.sleep(min(0.01 * attempt, 0.2))

    async def _publish_once(
        self,
        link: _Link,
        channel: AbstractChannel,
        body: bytes,
        *,
        exchange: str,
        routing_key: str,
        properties: Any,
        mandatory: bool,
        deadline: float,
        what: str,
    ) -> bool:
        assert self._errors is not None
        errors = self._errors
        try:
            await channel.basic_publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                properties=properties,
                mandatory=mandatory,
                wait=False,  # type: ignore[call-arg]  # aiormq.Channel has it
                timeout=max(deadline - time.monotonic(), 0.001),
            )
        except errors.PublishError:
            return False  # basic.return: no queue took it
        except errors.DeliveryError:
            raise DeliveryFailure(what, "the broker refused it (basic.nack)") from None
        except TimeoutError:
            if link.up and not channel.is_closed:
                raise DeliveryFailure(
                    what, f"the broker did not confirm it within {self.options.timeout:g} s"
                ) from None
            raise _Lost("no confirm before the connection closed") from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            raise _Lost("the channel closed") from None
        except (errors.AMQPError, ConnectionError, RuntimeError) as exc:
            raise _Lost(_describe(exc)) from None
        return True

    async def _new_publisher(self, link: _Link, broken: AbstractChannel) -> None:
        """The broker closed the publishing channel (a missing exchange): open another."""
        async with link.lock:
            if link.publisher is not broken or not link.up:
                return
            log.warning("the publishing channel was closed by the broker; opening another")
            link.declared.clear()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.options.timeout):
                    link.publisher = await link.connection.channel(
                        publisher_confirms=True, on_return_raises=True
                    )

    async def send(
        self, target: Target, message: Mapping[str, Any], *, ttl: float | None = None
    ) -> None:
        topic = target.require_topic("sending a request")
        what = f"request to {topic}"
        body = _wire.wrap(message, what=what, limit=self.options.max_message_size)
        if target.fanout:
            exchange = _Exchange(f"{topic}_fanout", "fanout", False, True)
            key = topic
        else:
            exchange = self._exchange_of(target)
            key = f"{topic}.{target.server}" if target.server else topic
        unique = message.get("_unique_id")
        await self._publish(
            exchange,
            key,
            body,
            what=what,
            message_id=unique if isinstance(unique, str) else _wire.new_id(),
            expiration=None if ttl is None else str(_ms(ttl)),
        )

    async def send_reply(self, reply_queue: str, message: Mapping[str, Any]) -> bool:
        body = _wire.wrap(message, what="reply", limit=self.options.max_message_size)
        return await self._publish(
            None,
            reply_queue,
            body,
            what=f"reply to {reply_queue}",
            message_id=_wire.new_id(),  # unique per publish: returns are matched by it
            mandatory=True,
        )

    async def notify(
        self,
        target: Target,
        priority: str,
        message: Mapping[str, Any],
        *,
        ttl: float | None = None,
        envelope: bool = True,
    ) -> None:
        topic = target.require_topic("sending a notification")
        key = f"{topic}.{priority}"
        what = f"notification to {key}"
        body = _wire.wrap(
            message, what=what, limit=self.options.max_message_size, envelope=envelope
        )
        exchange = self._exchange_of(target)
        unique = message.get("_unique_id")
        await self._publish(
            exchange,
            key,
            body,
            what=what,
            message_id=unique if isinstance(unique, str) else _wire.new_id(),
            expiration=None if ttl is None else str(_ms(ttl)),
            queue=self._shared_queue(key, ((exchange, key),)),
        )

    # -- consuming ------------------------------------------------------------------------

    def _exchange_of(self, target: Target) -> _Exchange:
        if target.exchange and target.exchange != self._control.name:
            return _Exchange(target.exchange, "topic", self.durable, False)
        return self._control

    def _shared_queue(self, name: str, bindings: tuple[tuple[_Exchange, str], ...]) -> _QueueSpec:
        options = self.options
        arguments: dict[str, Any] = {}
        dead_letter: tuple[str, dict[str, Any]] | None = None
        if options.quorum:
            arguments["x-queue-type"] = "quorum"
        if options.delivery_limit is not None:
            if options.quorum:
                arguments["x-delivery-limit"] = options.delivery_limit
            dlq = f"{name}.dlq"
            arguments["x-dead-letter-exchange"] = ""
            arguments["x-dead-letter-routing-key"] = dlq
            dead_letter = (dlq, {"x-queue-type": "quorum"} if options.quorum else {})
        return _QueueSpec(name, self.durable, arguments, bindings, dead_letter)

    async def _subscribe(self, consumer: _Consumer, what: str) -> _Consumer:
        """Register ``consumer`` (so reconnections re-create it) and start it."""
        self._consumers.add(consumer)
        deadline = time.monotonic() + self.options.timeout
        try:
            while True:
                link = await self._connected(deadline, what)
                try:
                    await consumer.attach(link, max(deadline - time.monotonic(), 0.001))
                    return consumer
                except Exception as exc:
                    if link.up or self._closed:
                        raise TransportUnavailable(
                            str(self.url), what, self._masked(_describe(exc))
                        ) from None
                    self._lost(link)  # it dropped meanwhile: again on the next connection
        except BaseException:
            self._consumers.discard(consumer)
            consumer.active = False
            raise

    async def listen(
        self, target: Target, handler: Handler, *, prefetch: int | None = None
    ) -> Subscription:
        topic = target.require_topic("an RPC server")
        exchange = self._exchange_of(target)
        queues = [self._shared_queue(topic, ((exchange, topic),))]
        if target.server:
            name = f"{topic}.{target.server}"
            queues.append(self._shared_queue(name, ((exchange, name),)))
        fanout = _Exchange(f"{topic}_fanout", "fanout", False, True)
        queues.append(
            _QueueSpec(
                f"{topic}_fanout_{_wire.new_id()}",
                False,
                {"x-expires": _ms(self.options.queue_expiry)},
                ((fanout, topic),),
                owned=True,
            )
        )
        consumer = _Consumer(
            self, queues, handler=handler, prefetch=prefetch or self.options.prefetch
        )
        return await self._subscribe(consumer, f"listening on {topic}")

    async def listen_notifications(
        self,
        targets: Sequence[Target],
        priorities: Sequence[str],
        handler: Handler,
        *,
        pool: str | None = None,
        prefetch: int | None = None,
    ) -> Subscription:
        bindings: dict[str, list[tuple[_Exchange, str]]] = {}
        for target in targets:
            topic = target.require_topic("a notification listener")
            exchange = self._exchange_of(target)
            for priority in priorities:
                key = f"{topic}.{priority}"
                bound = bindings.setdefault(pool or key, [])
                if (exchange, key) not in bound:
                    bound.append((exchange, key))
        queues = [self._shared_queue(name, tuple(bound)) for name, bound in bindings.items()]
        consumer = _Consumer(
            self, queues, handler=handler, prefetch=prefetch or self.options.prefetch
        )
        return await self._subscribe(consumer, f"listening to {', '.join(bindings)}")

    async def consume_replies(self, handler: ReplyHandler) -> str:
        if self._closed:
            raise TransportClosed(str(self.url))
        name = f"reply_{_wire.new_id()}"
        spec = _QueueSpec(name, False, {"x-expires": _ms(self.options.queue_expiry)})
        consumer = _Consumer(self, [spec], replies=handler)
        self._replies = consumer
        try:
            await self._subscribe(consumer, f"consuming replies on {name}")
        except BaseException:
            self._replies = None
            raise
        self._consumers.discard(consumer)  # kept in _replies, attached first on reconnection
        return name


def _backoff(attempt: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2.0**attempt) * random.uniform(0.5, 1.0)


def _close_reason(closing: asyncio.Future[Any]) -> str:
    if not closing.done() or closing.cancelled():
        return "closed"
    exc = closing.exception()
    return "closed" if exc is None else _describe(exc)
