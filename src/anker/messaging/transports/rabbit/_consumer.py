"""Consuming for the rabbit transport: a :class:`Consumer` (one channel reading a
subscription's queues, re-created on every connection) and the :class:`RabbitIncoming`
messages it delivers and settles."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from anker.messaging import _wire
from anker.messaging._errors import InvalidMessage
from anker.messaging._raw import RawHandler, RawMessage
from anker.messaging._transport import Handler, Incoming, ReplyHandler, Subscription
from anker.messaging.transports.rabbit._link import describe, log
from anker.messaging.transports.rabbit._topology import QueueSpec, declare_queue

if TYPE_CHECKING:
    from aiormq.abc import AbstractChannel, DeliveredMessage

    from anker.messaging.transports.rabbit._link import Link, Supervised


class RabbitIncoming(Incoming):
    __slots__ = ("_channel", "_consumer", "_tag")

    def __init__(
        self,
        message: dict[str, Any],
        *,
        where: str,
        redelivered: bool,
        ttl: float | None,
        consumer: Consumer,
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

    async def settle(self, how: str) -> None:
        """Settle as a raw message's driver does: ``ack``, ``requeue`` or ``reject``."""
        await {"ack": self.ack, "requeue": self.requeue, "reject": self.reject}[how]()


class Consumer(Subscription):
    """A subscription: one channel consuming its queues, re-created on every connection."""

    def __init__(
        self,
        transport: Supervised,
        queues: Sequence[QueueSpec],
        *,
        handler: Handler | None = None,
        replies: ReplyHandler | None = None,
        raw: RawHandler | None = None,
        prefetch: int = 0,
    ) -> None:
        self.transport = transport
        self.queues = list(queues)
        self.handler = handler
        self.replies = replies
        self.raw = raw
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

    async def attach(self, link: Link, timeout: float) -> None:
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
                        await declare_queue(channel, spec)
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
        if self.raw is not None:
            self._take_raw(where, channel, message, tag)
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
        incoming = RabbitIncoming(
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

    def _take_raw(
        self, where: str, channel: AbstractChannel, message: DeliveredMessage, tag: int
    ) -> None:
        delivery: Any = message.delivery
        incoming = RabbitIncoming(
            {},
            where=where,
            redelivered=bool(delivery.redelivered),
            ttl=None,
            consumer=self,
            channel=channel,
            tag=tag,
        )
        headers = {
            str(name): value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            for name, value in (message.header.properties.headers or {}).items()
        }
        count = headers.get("x-delivery-count")  # quorum queues: deliveries before this one
        self.unsettled += 1
        assert self.raw is not None
        self.raw(
            RawMessage(
                message.body,
                headers=headers,
                exchange=str(delivery.exchange),
                key=str(delivery.routing_key),
                queue=where,
                redelivered=incoming.redelivered,
                delivery_count=int(count) + 1 if count and count.isdigit() else None,
                settle=incoming.settle,
            )
        )

    async def settle(self, incoming: RabbitIncoming, how: str) -> None:
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
                    async with asyncio.timeout(self.transport.settings.timeout):
                        for tag in self.tags:
                            await channel.basic_cancel(tag)
                        for spec in self.queues:
                            if spec.owned:
                                await channel.queue_delete(spec.name)
                except Exception as exc:
                    log.debug("cancelling %s: %s", self, describe(exc))
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
                async with asyncio.timeout(self.transport.settings.timeout):
                    await channel.close()


async def _quietly(settle: Any, how: str, where: str) -> None:
    try:
        await settle
    except Exception as exc:
        log.debug(
            "could not %s a message from %s (%s): the broker redelivers it",
            how,
            where,
            describe(exc),
        )
