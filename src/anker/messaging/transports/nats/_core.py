"""Core NATS consuming for the nats transport: the requests of an RPC server (calls, in a
queue group, and fanout casts), bounded by the subscription's prefetch, and handed back to
the group when the server lets go of them.

Core NATS keeps nothing: a request goes to one member of the queue group listening at that
moment. So a subscription holds what arrives beyond its prefetch itself (the ``backlog``),
and "requeue" publishes the request again to its subject, where the group's other members
(or this one) take it; the caller's reply subject travels with it, so a request requeued
when no server is left comes back to the caller as "no responders" at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from anker.messaging import _wire
from anker.messaging._errors import InvalidMessage
from anker.messaging._transport import Handler, Incoming, Subscription
from anker.messaging.transports.nats._link import (
    REDELIVERED_HEADER,
    TTL_HEADER,
    describe,
    log,
)

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription as NatsSubscription

    from anker.messaging.transports.nats._link import Connected

#: the queue group every RPC server of a subject joins (the subject names the topic)
GROUP = "anker"


class Budget:
    """The deliveries of one subscription not settled yet, at most ``prefetch``; what is
    waiting for room is told (``on_room``) when one is settled."""

    __slots__ = ("on_room", "prefetch", "unsettled")

    def __init__(self, prefetch: int) -> None:
        self.prefetch = prefetch
        self.unsettled = 0
        self.on_room: list[Callable[[], None]] = []

    @property
    def room(self) -> int:
        return self.prefetch - self.unsettled

    def release(self) -> None:
        self.unsettled -= 1
        for wake in self.on_room:
            wake()


def ttl_of(headers: dict[str, str] | None) -> float | None:
    """The time to live a message carries (``Anker-TTL``, in milliseconds), in seconds."""
    if not headers:
        return None
    raw = headers.get(TTL_HEADER)
    if raw is None:
        return None
    try:
        return int(raw) / 1000
    except ValueError:
        return None


class CoreIncoming(Incoming):
    __slots__ = ("_consumer", "_msg")

    def __init__(
        self,
        message: dict[str, Any],
        *,
        where: str,
        redelivered: bool,
        ttl: float | None,
        consumer: CoreConsumer,
        msg: Msg,
    ) -> None:
        super().__init__(message, where=where, redelivered=redelivered, ttl=ttl)
        self._consumer = consumer
        self._msg = msg

    async def _ack(self) -> None:
        self._consumer.budget.release()

    async def _requeue(self) -> None:
        self._consumer.budget.release()
        remaining = None if self.deadline is None else self.deadline - time.monotonic()
        await self._consumer.hand_back(self._msg, remaining)

    async def _reject(self) -> None:
        self._consumer.budget.release()
        log.warning("a request from %s was rejected and dropped", self.where)


class CoreConsumer(Subscription):
    """One server's subscriptions to its topic's queue group, its own subject's group, and
    its fanout subject (without a group: every server gets a copy)."""

    def __init__(
        self,
        transport: Connected,
        subjects: list[tuple[str, bool]],
        handler: Handler,
        budget: Budget,
        where: str,
    ) -> None:
        self.transport = transport
        self.subjects = subjects  # (subject, shared by a queue group)
        self.handler = handler
        self.budget = budget
        self.where = where
        self.active = True
        self.backlog: deque[tuple[Msg, float]] = deque()  # arrived beyond prefetch
        self.subscriptions: list[NatsSubscription] = []
        self.fanout = {subject for subject, shared in subjects if not shared}
        budget.on_room.append(self._room)

    def __repr__(self) -> str:
        return f"<nats consumer of {self.where}>"

    async def start(self) -> None:
        nc = self.transport.client
        for subject, shared in self.subjects:
            self.subscriptions.append(
                await nc.subscribe(subject, queue=GROUP if shared else "", cb=self._on_msg)
            )
        async with asyncio.timeout(self.transport.settings.timeout):
            await nc.flush()  # subscribed on the server before the caller goes on

    async def _on_msg(self, msg: Msg) -> None:
        if not self.active:
            await self.hand_back(msg, None)  # arrived while draining: to another server
        elif self.budget.room <= 0 or self.backlog:
            self.backlog.append((msg, time.monotonic()))
        else:
            self._deliver(msg, None)

    def _room(self) -> None:
        while self.active and self.backlog and self.budget.room > 0:
            msg, arrived = self.backlog.popleft()
            self._deliver(msg, time.monotonic() - arrived)

    def _deliver(self, msg: Msg, waited: float | None) -> None:
        headers = msg.headers
        try:
            message = _wire.unwrap(msg.data, self.where)
        except InvalidMessage as exc:
            log.error("dropped a request from %s that cannot be read: %s", self.where, exc)
            return
        ttl = ttl_of(headers)
        if ttl is not None and waited:
            ttl -= waited
        incoming = CoreIncoming(
            message,
            where=self.where,
            redelivered=bool(headers and REDELIVERED_HEADER in headers),
            ttl=ttl,
            consumer=self,
            msg=msg,
        )
        self.budget.unsettled += 1
        try:
            self.handler(incoming)
        except Exception:
            log.exception("a message handler raised; the request goes back to its queue group")
            self.transport._spawn(incoming.requeue())

    async def hand_back(self, msg: Msg, ttl: float | None) -> None:
        """Publish ``msg`` again to its subject, for the group to take (a fanout copy goes
        back to this server's backlog while it listens, and is dropped after)."""
        if msg.subject in self.fanout:
            if self.active:
                self.backlog.appendleft((msg, time.monotonic()))
                self._room()
            return
        headers = dict(msg.headers or {})
        headers[REDELIVERED_HEADER] = "1"
        if ttl is not None:
            if ttl <= 0:
                return  # expired: a broker would drop it too
            headers[TTL_HEADER] = str(max(int(ttl * 1000), 1))
        try:
            await self.transport.client.publish(
                msg.subject, msg.data, reply=msg.reply, headers=headers
            )
        except Exception as exc:
            log.warning(
                "could not hand a request from %s back to its queue group: %s",
                self.where,
                describe(exc),
            )

    async def cancel(self) -> None:
        if not self.active:
            return
        self.active = False
        with contextlib.suppress(ValueError):
            self.budget.on_room.remove(self._room)
        for subscription in self.subscriptions:
            # the server stops sending, then what it sent is handed back by _on_msg
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.transport.settings.timeout):
                    await subscription.drain()  # type: ignore[no-untyped-call]
        backlog, self.backlog = self.backlog, deque()
        for msg, arrived in backlog:
            ttl = ttl_of(msg.headers)
            await self.hand_back(msg, None if ttl is None else ttl - (time.monotonic() - arrived))
