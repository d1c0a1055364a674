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
* replies go to the default exchange with the reply queue's name as key, on a channel
  without publisher confirms (see *Publishing*); a reply queue that is gone (its caller
  went away) is found by a passive declaration in the background, at most once a minute per
  queue, and logged.

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

**Publishing.** One channel with publisher confirms carries every request, cast and
notification of the transport; publishes are pipelined (a send waits for its own confirm, not
for the others'). ``send`` and ``notify`` return once the broker confirmed; a ``basic.nack``
raises :class:`~anker.messaging.DeliveryFailure`. Replies go on a channel of their own
without confirms (as a minimal aio-pika RPC sends them): a reply is covered by the
request it answers, which the server acknowledges only after ``send_reply`` returned, on the
same connection, so the broker reads the reply before the acknowledgement; if the connection
drops in between, the request is redelivered and answered again (a server answers a
redelivery of a request it finished from memory, without running it again). Waiting for
each reply's confirm cost the server a third of its event-loop turns per call. Consumers
each have a channel of their own, with ``basic.qos`` set to the prefetch (per queue
consumed).

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
:class:`~anker.messaging.transports.TransportSettings` it takes ``heartbeat`` (seconds,
default 60, 0 for none), and TLS: ``ssl=true`` (port 5671 by default), ``ssl_ca_file``,
``ssl_cert_file`` and ``ssl_key_file`` (oslo.messaging's names), ``ssl_verify`` (default true:
the broker's certificate and host name are checked). Passwords never appear in errors or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from anker._drivers import DriverSettings, setting
from anker.messaging import _wire
from anker.messaging._errors import DeliveryFailure, TransportClosed, TransportUnavailable
from anker.messaging._raw import RawHandler
from anker.messaging._transport import Handler, ReplyHandler, Subscription, TransportSettings
from anker.messaging.transports.rabbit._consumer import Consumer
from anker.messaging.transports.rabbit._link import Link, describe, log
from anker.messaging.transports.rabbit._publish import Publishing
from anker.messaging.transports.rabbit._topology import (
    Exchange,
    QueueSpec,
    fanout_exchange,
    ms,
    shared_queue,
)

if TYPE_CHECKING:
    from anker._url import BackendURL
    from anker.messaging._target import Target

__all__ = ["RabbitTransport"]

DEFAULT_HEARTBEAT: Final = 60


@dataclass(frozen=True)
class RabbitSettings(TransportSettings):
    """The options of ``rabbit://``: the common ones and the AMQP heartbeat."""

    #: whole seconds between AMQP heartbeats (0: none)
    heartbeat: int = setting(
        DEFAULT_HEARTBEAT, min=0, help="whole seconds between AMQP heartbeats (0: none)"
    )
    # TLS, named as oslo.messaging's [oslo_messaging_rabbit] options are
    ssl: bool = setting(False, help="TLS to the broker (port 5671 where the URL gives none)")
    ssl_ca_file: str | None = setting(
        None, help="the CA bundle (PEM) the broker's certificate chains to (default: the system's)"
    )
    ssl_cert_file: str | None = setting(
        None, help="a client certificate (PEM), for brokers that verify their clients"
    )
    ssl_key_file: str | None = setting(None, help="the client certificate's private key (PEM)")
    ssl_verify: bool = setting(
        True, help="check the broker's certificate and host name (false: testing only)"
    )


class RabbitTransport(Publishing):
    """The RabbitMQ transport; see the module documentation.

    .. versionadded:: 0.1
    """

    settings_class: ClassVar[type[DriverSettings]] = RabbitSettings
    settings: RabbitSettings

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        self.heartbeat = self.settings.heartbeat
        path = url.path[1:] if url.path.startswith("/") else url.path
        self.vhost = path or "/"
        self.durable = self.settings.durable or self.settings.quorum
        self._control = Exchange(self.settings.exchange, "topic", self.durable, False)

    # -- closing --------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._closed:
            return
        await self.close_raw_consumers()
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
            async with asyncio.timeout(self.settings.timeout):
                await link.connection.close()

    async def _drop_queues(
        self, link: Link, consumers: list[Consumer], replies: Consumer | None
    ) -> None:
        """Stop the consumers, then delete the queues that end with them (fanout, replies)."""
        doomed = [q.name for c in consumers for q in c.queues if q.owned]
        if replies is not None:
            doomed.append(replies.queues[0].name)
        try:
            async with asyncio.timeout(self.settings.timeout):
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
            log.debug("deleting the queues of %s: %s", self, describe(exc))

    # -- sending --------------------------------------------------------------------------

    async def send(
        self, target: Target, message: Mapping[str, Any], *, ttl: float | None = None
    ) -> None:
        topic = target.require_topic("sending a request")
        what = f"request to {topic}"
        body = _wire.wrap(message, what=what, limit=self.settings.max_message_size)
        if target.fanout:
            exchange = fanout_exchange(topic)
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
            expiration=None if ttl is None else str(ms(ttl)),
        )

    async def send_reply(self, reply_queue: str, message: Mapping[str, Any]) -> bool:
        """Publish the reply; True once its frames are on their way (replies are not
        confirmed: see the module documentation). A reply queue that is gone is logged
        (once a minute)."""
        body = _wire.wrap(message, what="reply", limit=self.settings.max_message_size)
        await self._publish_reply(reply_queue, body, _wire.new_id())
        return True

    async def notify(
        self,
        target: Target,
        priority: str,
        message: Mapping[str, Any],
        *,
        ttl: float | None = None,
        envelope: bool = True,
    ) -> None:
        key, what, body = self.notification(target, priority, message, envelope=envelope)
        exchange = self._exchange_of(target)
        unique = message.get("_unique_id")
        await self._publish(
            exchange,
            key,
            body,
            what=what,
            message_id=unique if isinstance(unique, str) else _wire.new_id(),
            expiration=None if ttl is None else str(ms(ttl)),
            queue=self._shared_queue(key, ((exchange, key),)),
        )

    # -- consuming ------------------------------------------------------------------------

    def _exchange_of(self, target: Target) -> Exchange:
        if target.exchange and target.exchange != self._control.name:
            return Exchange(target.exchange, "topic", self.durable, False)
        return self._control

    def _shared_queue(self, name: str, bindings: tuple[tuple[Exchange, str], ...]) -> QueueSpec:
        return shared_queue(name, bindings, options=self.settings, durable=self.durable)

    async def _subscribe(self, consumer: Consumer, what: str) -> Consumer:
        """Register ``consumer`` (so reconnections re-create it) and start it."""
        self._consumers.add(consumer)
        deadline = time.monotonic() + self.settings.timeout
        try:
            while True:
                link = await self._connected(deadline, what)
                try:
                    await consumer.attach(link, max(deadline - time.monotonic(), 0.001))
                    return consumer
                except Exception as exc:
                    if link.up or self._closed:
                        raise TransportUnavailable(
                            str(self.url), what, self._masked(describe(exc))
                        ) from exc
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
        queues.append(
            QueueSpec(
                f"{topic}_fanout_{_wire.new_id()}",
                False,
                {"x-expires": ms(self.settings.queue_expiry)},
                ((fanout_exchange(topic), topic),),
                owned=True,
            )
        )
        consumer = Consumer(
            self, queues, handler=handler, prefetch=prefetch or self.settings.prefetch
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
        bindings: dict[str, list[tuple[Exchange, str]]] = {}
        for target in targets:
            topic = target.require_topic("a notification listener")
            exchange = self._exchange_of(target)
            for priority in priorities:
                key = f"{topic}.{priority}"
                bound = bindings.setdefault(pool or key, [])
                if (exchange, key) not in bound:
                    bound.append((exchange, key))
        queues = [self._shared_queue(name, tuple(bound)) for name, bound in bindings.items()]
        consumer = Consumer(
            self, queues, handler=handler, prefetch=prefetch or self.settings.prefetch
        )
        return await self._subscribe(consumer, f"listening to {', '.join(bindings)}")

    async def consume_replies(self, handler: ReplyHandler) -> str:
        if self._closed:
            raise TransportClosed(str(self.url))
        name = f"reply_{_wire.new_id()}"
        spec = QueueSpec(name, False, {"x-expires": ms(self.settings.queue_expiry)})
        consumer = Consumer(self, [spec], replies=handler)
        self._replies = consumer
        try:
            await self._subscribe(consumer, f"consuming replies on {name}")
        except BaseException:
            self._replies = None
            raise
        self._consumers.discard(consumer)  # kept in _replies, attached first on reconnection
        return name

    # -- raw messages ---------------------------------------------------------------------

    def _raw_exchange(self, name: str) -> Exchange:
        # always durable (an exchange holds no messages): processes with other ``durable``
        # options never disagree on its declaration
        return Exchange(name, "topic", True, False)

    async def publish_raw(
        self,
        exchange: str,
        key: str,
        body: bytes,
        headers: dict[str, str],
        ttl: float | None,
    ) -> None:
        what = f"message {key!r} to exchange {exchange!r}"
        routed = await self._publish(
            self._raw_exchange(exchange),
            key,
            body,
            what=what,
            message_id=_wire.new_id(),
            expiration=None if ttl is None else str(ms(ttl)),
            mandatory=True,
            headers=headers,
            raw=True,
        )
        if not routed:
            raise DeliveryFailure(
                what,
                "no queue is bound to the exchange with a pattern matching the key "
                "(unroutable: the broker returned it)",
            )

    async def subscribe_raw(
        self,
        exchange: str,
        queue: str,
        bindings: Sequence[str],
        handler: RawHandler,
        *,
        prefetch: int,
        durable: bool,
    ) -> Subscription:
        bound = self._raw_exchange(exchange)
        spec = shared_queue(
            queue,
            tuple((bound, pattern) for pattern in bindings),
            options=self.settings,
            durable=durable or self.settings.quorum,
        )
        consumer = Consumer(self, [spec], raw=handler, prefetch=prefetch)
        return await self._subscribe(consumer, f"consuming queue {queue} of exchange {exchange}")
