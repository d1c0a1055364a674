"""JetStream consuming for the nats transport: casts and notifications, pulled from durable
consumers (one per queue, shared by every process consuming it), acknowledged after they
were handled, given back with a NAK, and moved to a dead-letter subject when rejected or
delivered more than ``delivery_limit`` times."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from anker.messaging import _wire
from anker.messaging._errors import InvalidMessage
from anker.messaging._transport import Handler, Incoming, Subscription
from anker.messaging.transports.nats._core import Budget, ttl_of
from anker.messaging.transports.nats._link import describe, log

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

    from anker.messaging.transports.nats._link import Connected

#: seconds a pull request waits on the server for messages (then a new one is sent)
PULL_EXPIRES: Final = 1.0
#: the most messages one pull request asks for
PULL_BATCH: Final = 64


class StreamIncoming(Incoming):
    __slots__ = ("_consumer", "_msg")

    def __init__(
        self,
        message: dict[str, Any],
        *,
        where: str,
        redelivered: bool,
        ttl: float | None,
        consumer: StreamConsumer,
        msg: Msg,
    ) -> None:
        super().__init__(message, where=where, redelivered=redelivered, ttl=ttl)
        self._consumer = consumer
        self._msg = msg

    async def _ack(self) -> None:
        await self._consumer.settle(self._msg, "ack")

    async def _requeue(self) -> None:
        await self._consumer.settle(self._msg, "nak")

    async def _reject(self) -> None:
        await self._consumer.settle(self._msg, "dead")


class StreamConsumer(Subscription):
    """Pulls from the durable consumer ``durable`` of ``stream`` while there is room in the
    subscription's prefetch."""

    def __init__(
        self,
        transport: Connected,
        *,
        stream: str,
        durable: str,
        where: str,
        handler: Handler,
        budget: Budget,
        dead_letters: str,
        delivery_limit: int | None,
        remake: Callable[[], Awaitable[None]],
    ) -> None:
        self.transport = transport
        self.stream = stream
        self.durable = durable
        self.where = where
        self.handler = handler
        self.budget = budget
        self.dead_letters = dead_letters
        self.delivery_limit = delivery_limit
        self.remake = remake  # makes the stream and consumer again (once per connection)
        self.active = True
        # delivered, not settled, by id (nats-py's messages are not hashable): kept "in progress"
        self.unsettled: dict[int, Msg] = {}
        self._room = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pull: JetStreamContext.PullSubscription | None = None
        budget.on_room.append(self._room.set)

    def __repr__(self) -> str:
        return f"<nats stream consumer {self.durable} of {self.where}>"

    async def start(self) -> None:
        js = self.transport.jetstream
        self._pull = await js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        self._task = self.transport._spawn(self._pulling(self._pull))
        self.transport._spawn(self._working())

    async def _working(self) -> None:
        """Tell JetStream, every half ``ack_wait``, that the messages still being handled are
        in progress, so only a process that is gone has its messages delivered again, not
        one whose handler is slow."""
        interval = self.transport.settings.ack_wait / 2
        while self.active or self.unsettled:
            await asyncio.sleep(interval)
            for msg in list(self.unsettled.values()):
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _pulling(self, pull: JetStreamContext.PullSubscription) -> None:
        """Fetch while active and there is room; what arrives after cancel goes back."""
        delay = 0.05
        while self.active:
            room = self.budget.room
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                messages = await pull.fetch(min(room, PULL_BATCH), timeout=PULL_EXPIRES)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # disconnected: nats-py reconnects; pull again then
                log.debug("pulling from %s: %s", self, describe(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                if self.transport.connected:
                    # a server restarted without its store lost the stream and consumer
                    with contextlib.suppress(Exception):
                        await self.remake()
                continue
            delay = 0.05
            for msg in messages:
                if self.listening():
                    await self._deliver(msg)
                else:
                    with contextlib.suppress(Exception):
                        await msg.nak()
        with contextlib.suppress(Exception):
            await pull.unsubscribe()

    def listening(self) -> bool:
        """Whether deliveries go on (a method: ``cancel`` may change it at any await)."""
        return self.active

    async def _admit(self, msg: Msg) -> tuple[int, float | None] | None:
        """How many times ``msg`` was delivered and the time it has left to live; or None
        when it is not delivered: over ``delivery_limit`` (dead-lettered) or expired (gone)."""
        metadata = msg.metadata
        delivered = metadata.num_delivered or 1
        if self.delivery_limit is not None and delivered > self.delivery_limit:
            await self._dead(msg, f"delivered {delivered} times (delivery_limit)")
            return None
        ttl = ttl_of(msg.headers)
        if ttl is not None and metadata.timestamp is not None:
            ttl -= time.time() - metadata.timestamp.timestamp()
            if ttl <= 0:
                log.debug("dropped a message from %s that expired in the stream", self.where)
                with contextlib.suppress(Exception):
                    await msg.ack()
                return None
        return delivered, ttl

    async def _deliver(self, msg: Msg) -> None:
        admitted = await self._admit(msg)
        if admitted is None:
            return
        delivered, ttl = admitted
        try:
            message = _wire.unwrap(msg.data, self.where)
        except InvalidMessage as exc:
            log.error("a message from %s cannot be read: %s", self.where, exc)
            await self._dead(msg, str(exc))
            return
        incoming = StreamIncoming(
            message,
            where=self.where,
            redelivered=delivered > 1,
            ttl=ttl,
            consumer=self,
            msg=msg,
        )
        self.budget.unsettled += 1
        self.unsettled[id(msg)] = msg
        try:
            self.handler(incoming)
        except Exception:
            log.exception("a message handler raised; the message goes back to its stream")
            await incoming.requeue()

    async def settle(self, msg: Msg, how: str) -> None:
        self.budget.release()
        self.unsettled.pop(id(msg), None)
        try:
            if how == "ack":
                await msg.ack()
            elif how == "nak":
                await msg.nak()
            else:
                await self._dead(msg, "rejected")
        except Exception as exc:
            log.debug(
                "could not %s a message from %s (%s): JetStream redelivers it",
                how,
                self.where,
                describe(exc),
            )

    async def _dead(self, msg: Msg, reason: str) -> None:
        """Keep ``msg`` on the dead-letter subject, then acknowledge it where it was."""
        headers = {"Anker-Dead-Reason": reason, "Anker-Dead-From": self.where}
        try:
            await self.transport.publish_kept(
                self.dead_letters,
                msg.data,
                headers,
                f"dead letter from {self.where}",
                self.remake,
            )
        except Exception as exc:
            log.error(
                "a message from %s could not be dead-lettered (%s); it stays in its stream",
                self.where,
                describe(exc),
            )
            with contextlib.suppress(Exception):
                await msg.nak()
            return
        log.warning(
            "a message from %s was dead-lettered to %s: %s", self.where, self.dead_letters, reason
        )
        with contextlib.suppress(Exception):
            await msg.ack()

    async def cancel(self) -> None:
        """Stop delivering; a pull under way ends within a second, NAKing what it brings."""
        if not self.active:
            return
        self.active = False
        self._room.set()
        with contextlib.suppress(ValueError):
            self.budget.on_room.remove(self._room.set)
