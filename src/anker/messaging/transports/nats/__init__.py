"""``nats://user:pass@host1:4222,host2:4222``: the NATS transport (core NATS and JetStream).

**Calls and fanout on core NATS.** A call is one core NATS publish to
``anker.rpc.<exchange>.<topic>`` (or ``...<topic>.<server>``), which the topic's servers
subscribe to in the queue group ``anker``, so one of them takes it; its reply goes to the
caller's reply subject ``_INBOX.<reply queue>``, one per transport. A request carries a NATS
reply subject of its own, so when no server listens NATS says so at once and the call raises
:class:`~anker.messaging.NoResponders` (a :class:`~anker.messaging.MessagingTimeout`) instead
of waiting for its timeout. A fanout cast goes to ``anker.fanout.<exchange>.<topic>``, which
every server of the topic subscribes to without a group. Core NATS keeps nothing: the
transport bounds each server's unsettled requests by ``prefetch`` and keeps the rest itself; a
request a server hands back (it stops, or the handler requeues) is published again to its
subject for another server of the group.

**Casts and notifications on JetStream.** A cast to a topic or server is published to the
stream ``anker-cast-<exchange>`` (subjects ``anker.cast.<exchange>.>``), where the durable
consumer ``rpc-<topic>`` (or ``rpc-<topic>~~<server>``), made by the first server that
listens, keeps it until a server takes it, as RabbitMQ's queue ``<topic>`` would. A
notification to ``<topic>.<priority>`` goes to ``anker-notify-<exchange>``; each listener
pool has a durable consumer per key (``pool-<pool>~~<key>``; the default pool is the key
itself, made by the notifier, so nothing is lost before a listener exists), shared by the
pool's listeners. Streams keep a message until every consumer interested in it acknowledged
it (interest retention), in memory, or on disk with ``durable=true``. A send or notify
returns once JetStream stored the message; one sent while the connection is down is sent
again (``Nats-Msg-Id`` is the message's ``_unique_id``, so the stream keeps it once) until
``timeout`` runs out. Messages are acknowledged after dispatch; one not settled within
``ack_wait`` is delivered again, which only a process that is gone lets happen (the transport
reports the messages still being handled as in progress every ``ack_wait / 2``). A message
rejected, unreadable, or delivered more than ``delivery_limit`` times is moved to
``anker.dlq.<exchange>.<consumer>`` in the stream ``anker-dlq-<exchange>`` (kept for an
operator) and acknowledged.

**Time to live** travels in the header ``Anker-TTL`` (milliseconds); a JetStream message
counts it from the time the stream stored it, a core one from its arrival.

**Names.** Exchange, topic, server and pool names become one subject token each: bytes
outside ``[A-Za-z0-9_-]`` are written ``~XX`` (so ``a.b`` is ``a~2Eb``); stream and consumer
names over 64 characters are shortened with a hash.

**Reconnection** is nats-py's: it tries the URL's servers in turn (``reconnect_wait`` between
rounds) for as long as the transport is open and subscribes again; pulls from JetStream go on
once it is back. Replies published while the connection is down are lost, so those calls
time out (or, with ``call_monitor_timeout``, fail as their heartbeats stop).

**URL.** ``nats://[user:password@]host[:port][,...][?options]`` (a user without a password
is a token). Besides the common options of
:class:`~anker.messaging.transports.TransportSettings` (``quorum`` is RabbitMQ's and refused
here) it takes ``ack_wait``, ``reconnect_wait``, and TLS with the rabbit transport's names:
``ssl=true``, ``ssl_ca_file``, ``ssl_cert_file``, ``ssl_key_file``, ``ssl_verify``. Passwords
never appear in errors or logs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from anker._drivers import DriverSettings
from anker.errors import InvalidOption
from anker.messaging import _wire
from anker.messaging._errors import TransportClosed
from anker.messaging._raw import RawHandler
from anker.messaging._transport import (
    Handler,
    ReplyHandler,
    Subscription,
)
from anker.messaging.transports.nats import _names as names
from anker.messaging.transports.nats import _raw as raw
from anker.messaging.transports.nats._core import Budget, CoreConsumer
from anker.messaging.transports.nats._link import (
    MSG_ID_HEADER,
    TTL_HEADER,
    Connected,
    NatsSettings,
    log,
)
from anker.messaging.transports.nats._stream import StreamConsumer

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from anker._url import BackendURL
    from anker.messaging._target import Target

__all__ = ["NatsSettings", "NatsTransport"]

#: seconds between two warnings that replies to one caller are dropped
GONE_SECONDS = 60.0


class _Group(Subscription):
    """The parts of one subscription (core and JetStream consumers), cancelled together."""

    def __init__(self, transport: NatsTransport, parts: list[CoreConsumer | StreamConsumer]):
        self.transport = transport
        self.parts = parts

    async def cancel(self) -> None:
        self.transport._subscriptions.discard(self)
        for part in self.parts:
            await part.cancel()


class NatsTransport(Connected):
    """The NATS transport; see the module documentation.

    .. versionadded:: 0.2
    """

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        if self.settings.quorum:
            raise InvalidOption(
                "quorum",
                self.describe(url),
                "quorum queues are RabbitMQ's; JetStream streams need no such option",
            )
        self._subscriptions: set[_Group] = set()
        self._reply_queue: str | None = None
        self._reply_subject = ""
        self._bounces = ""  # where NATS says a reply found no caller (made on first reply)
        self._gone: dict[str, float] = {}
        self._raw_queues = raw.RawQueues()

    async def aclose(self) -> None:
        if self._closed:
            return
        await self.close_raw_consumers()
        self.fail_waiting_calls(TransportClosed(str(self.url)))
        for group in list(self._subscriptions):
            await group.cancel()  # held requests go back to the other servers first
        self._closed = True
        await self._disconnect()

    # -- sending --------------------------------------------------------------------------

    def _wrap(self, message: Mapping[str, Any], what: str) -> bytes:
        body = _wire.wrap(message, what=what)
        if len(body) > self.limit:
            raise self.too_large(what, len(body))
        return body

    async def send(
        self, target: Target, message: Mapping[str, Any], *, ttl: float | None = None
    ) -> None:
        topic = target.require_topic("sending a request")
        exchange = self.exchange_of(target)
        what = f"request to {topic}"
        body = self._wrap(message, what)
        headers = {} if ttl is None else {TTL_HEADER: str(max(int(ttl * 1000), 1))}
        if target.fanout:
            subject = names.fanout_subject(exchange, topic)
            await self.publish_now(subject, body, what, headers=headers or None)
            return
        msg_id = message.get("_msg_id")
        if msg_id is None:  # a cast: kept in JetStream until a server takes it
            await self._cast(
                exchange=exchange,
                topic=topic,
                server=target.server,
                message=message,
                body=body,
                headers=headers,
            )
            return
        reply = ""
        if message.get("_reply_q") == self._reply_queue and isinstance(msg_id, str):
            reply = f"{self._reply_subject}.{names.id_token(msg_id)}"  # NATS answers 503 here
        subject = names.request_subject(exchange, topic, target.server)
        await self.publish_now(subject, body, what, reply=reply, headers=headers or None)

    async def _cast(
        self,
        *,
        exchange: str,
        topic: str,
        server: str | None,
        message: Mapping[str, Any],
        body: bytes,
        headers: dict[str, str],
    ) -> None:
        stream = names.cast_stream(exchange)
        unique = message.get("_unique_id")
        headers[MSG_ID_HEADER] = unique if isinstance(unique, str) else _wire.new_id()
        subject = names.cast_subject(exchange, topic, server)
        # a cast to a topic no server ever listened to is dropped, as by an unbound exchange
        await self.publish_kept(
            subject, body, headers, f"cast to {topic}", lambda: self.stream(*stream)
        )

    async def send_reply(self, reply_queue: str, message: Mapping[str, Any]) -> bool:
        """Publish the reply; True at once (core NATS confirms nothing). If no caller
        listens any more, NATS says so later on this transport's bounce subject, and the
        transport logs it (once a minute per reply queue)."""
        what = f"reply to {reply_queue}"
        body = self._wrap(message, what)
        if not self._bounces:
            self._bounces = f"_INBOX.{_wire.new_id()}"
            await self.client.subscribe(f"{self._bounces}.*", cb=self._on_bounce)
        reply = f"{self._bounces}.{names.token(reply_queue)}"
        await self.publish_now(names.reply_subject(reply_queue), body, what, reply=reply)
        return True

    async def _on_bounce(self, msg: Msg) -> None:
        reply_queue = names.untoken(msg.subject.rsplit(".", 1)[-1])
        now = time.monotonic()
        since = self._gone.get(reply_queue)
        if since is not None and now - since < GONE_SECONDS:
            return
        for name, when in list(self._gone.items()):
            if now - when >= GONE_SECONDS:
                del self._gone[name]
        self._gone[reply_queue] = now
        log.warning(
            "a reply was dropped: reply queue %s no longer exists (the caller is gone)",
            reply_queue,
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
        key, what, body = self.notification(target, priority, message, envelope=envelope)
        if len(body) > self.limit:
            raise self.too_large(what, len(body))
        exchange = self.exchange_of(target)
        stream, subjects = names.notify_stream(exchange)
        subject = names.notify_subject(exchange, key)

        async def prepare() -> None:
            await self.stream(stream, subjects)
            # the default pool's consumer keeps notifications until its first listener comes
            await self.durable_consumer(stream, names.pool_consumer(key, key), subject)

        unique = message.get("_unique_id")
        headers = {MSG_ID_HEADER: unique if isinstance(unique, str) else _wire.new_id()}
        if ttl is not None:
            headers[TTL_HEADER] = str(max(int(ttl * 1000), 1))
        await self.publish_kept(subject, body, headers, what, prepare)

    # -- consuming ------------------------------------------------------------------------

    async def _start(self, parts: list[CoreConsumer | StreamConsumer], what: str) -> Subscription:
        group = _Group(self, parts)
        try:
            async with self.translated(what):
                for part in parts:
                    await part.start()
        except BaseException:
            for part in parts:
                await part.cancel()
            raise
        self._subscriptions.add(group)
        return group

    async def _stream_consumer(
        self,
        *,
        stream: tuple[str, str],  # its name and subjects
        durable: str,
        subject: str,
        where: str,
        handler: Handler,
        budget: Budget,
        exchange: str,
    ) -> StreamConsumer:
        dead_stream, dead_subjects = names.dead_letter_stream(exchange)

        async def make() -> None:
            await self.stream(*stream)
            await self.durable_consumer(stream[0], durable, subject)
            await self.stream(dead_stream, dead_subjects, dead_letters=True)

        await make()
        return StreamConsumer(
            self,
            stream=stream[0],
            durable=durable,
            where=where,
            handler=handler,
            budget=budget,
            dead_letters=names.dead_letter_subject(exchange, durable),
            delivery_limit=self.settings.delivery_limit,
            remake=make,
        )

    async def listen(
        self, target: Target, handler: Handler, *, prefetch: int | None = None
    ) -> Subscription:
        topic = target.require_topic("an RPC server")
        exchange = self.exchange_of(target)
        budget = Budget(prefetch or self.settings.prefetch)
        subjects = [(names.request_subject(exchange, topic, None), True)]
        servers: list[str | None] = [None]
        if target.server:
            subjects.append((names.request_subject(exchange, topic, target.server), True))
            servers.append(target.server)
        subjects.append((names.fanout_subject(exchange, topic), False))
        where = f"{topic}.{target.server}" if target.server else topic
        parts: list[CoreConsumer | StreamConsumer] = [
            CoreConsumer(self, subjects, handler, budget, where)
        ]
        for server in servers:
            consumer = await self._stream_consumer(
                stream=names.cast_stream(exchange),
                durable=names.queue_consumer(topic, server),
                subject=names.cast_subject(exchange, topic, server),
                where=topic if server is None else f"{topic}.{server}",
                handler=handler,
                budget=budget,
                exchange=exchange,
            )
            parts.append(consumer)
        return await self._start(parts, f"listening on {where}")

    async def listen_notifications(
        self,
        targets: Sequence[Target],
        priorities: Sequence[str],
        handler: Handler,
        *,
        pool: str | None = None,
        prefetch: int | None = None,
    ) -> Subscription:
        budget = Budget(prefetch or self.settings.prefetch)
        parts: list[CoreConsumer | StreamConsumer] = []
        seen: set[tuple[str, str]] = set()
        for target in targets:
            topic = target.require_topic("a notification listener")
            exchange = self.exchange_of(target)
            stream = names.notify_stream(exchange)
            for priority in priorities:
                key = f"{topic}.{priority}"
                if (exchange, key) in seen:
                    continue
                seen.add((exchange, key))
                durable = names.pool_consumer(pool or key, key)
                subject = names.notify_subject(exchange, key)
                parts.append(
                    await self._stream_consumer(
                        stream=stream,
                        durable=durable,
                        subject=subject,
                        where=pool or key,
                        handler=handler,
                        budget=budget,
                        exchange=exchange,
                    )
                )
        return await self._start(parts, f"listening to {', '.join(sorted(k for _, k in seen))}")

    async def consume_replies(self, handler: ReplyHandler) -> str:
        nc = self.client
        name = f"reply_{_wire.new_id()}"
        subject = names.reply_subject(name)

        async def on_reply(msg: Msg) -> None:
            try:
                message = _wire.unwrap(msg.data, name)
            except Exception as exc:
                log.error("dropped a reply that cannot be read: %s", exc)
                return
            handler(message)

        async def on_no_responders(msg: Msg) -> None:
            if msg.headers and msg.headers.get("Status") == "503":
                router = self._reply_router
                if router is not None:
                    router.no_responders(names.untoken(msg.subject.rsplit(".", 1)[-1]))

        async with self.translated(f"consuming replies on {name}"):
            await nc.subscribe(subject, cb=on_reply)
            await nc.subscribe(f"{subject}.*", cb=on_no_responders)
            async with asyncio.timeout(self.settings.timeout):
                await nc.flush()
        self._reply_queue, self._reply_subject = name, subject
        return name

    # -- raw messages (see _raw) ----------------------------------------------------------

    async def publish_raw(
        self,
        exchange: str,
        key: str,
        body: bytes,
        headers: dict[str, str],
        ttl: float | None,
    ) -> None:
        await raw.publish(
            self, self._raw_queues, exchange=exchange, key=key, body=body, headers=headers, ttl=ttl
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
        part = await raw.consumer(
            self, exchange, queue, bindings, handler, prefetch=prefetch, durable=durable
        )
        self._raw_queues.known.setdefault(exchange, {})[names.raw_consumer(queue)] = tuple(bindings)
        return await self._start([part], f"consuming queue {queue} of exchange {exchange}")
