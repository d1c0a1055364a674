"""Raw messages, the low-level API: :class:`RawMessage` (what a consumer receives, settled
once) and :class:`RawConsumer` (what ``Transport.consume`` returns: an async context manager
and iterator of the messages of one queue).

Drivers make :class:`RawMessage` objects (their ``settle`` function does the broker's ack,
requeue or reject) and hand them to a :data:`RawHandler`; the checks of names, keys, patterns,
bodies and headers are done before a driver is reached (``_topics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Final, Self

from anker.messaging._errors import AlreadySettled, TransportClosed
from anker.messaging._signing import RAW_SIGNATURE_HEADER, Refusals, raw_route
from anker.messaging._tracing import consumer_span

if TYPE_CHECKING:
    from anker.messaging._transport import Subscription, Transport

__all__ = ["RawConsumer", "RawHandler", "RawMessage"]

log = logging.getLogger("anker.messaging")

#: how a driver settles a delivery: "ack", "requeue" or "reject"
Settle = Callable[[str], Awaitable[None]]
_OUTCOMES: Final = {"ack": "acknowledged", "requeue": "requeued", "reject": "rejected"}
_CLOSED: Final = object()  # wakes the readers of a consumer that closed


class RawMessage:
    """One message delivered to a :class:`RawConsumer`, to be settled exactly once.

    ``body`` is the bytes as published; ``headers`` the publisher's (transports' own headers
    left out); ``exchange`` and ``key`` where it was published; ``queue`` the queue it came
    from; ``redelivered`` whether the broker delivered it before (requeued, or its consumer
    went away unsettled); ``delivery_count`` how many times it was delivered, counting this
    one, where the broker says (NATS, memory://, RabbitMQ quorum queues), else None.

    Settle with :meth:`ack`, :meth:`nack` or :meth:`reject`, once: a second one raises
    :class:`~anker.messaging.AlreadySettled`, as does settling a message that went back to
    its queue when its consumer closed.

    .. versionadded:: 0.2
    """

    __slots__ = (
        "_consumer",
        "_outcome",
        "_settle",
        "body",
        "delivery_count",
        "exchange",
        "headers",
        "key",
        "queue",
        "redelivered",
    )

    def __init__(
        self,
        body: bytes,
        *,
        headers: Mapping[str, str],
        exchange: str,
        key: str,
        queue: str,
        redelivered: bool,
        delivery_count: int | None,
        settle: Settle,
    ) -> None:
        self.body = body
        self.headers: Mapping[str, str] = MappingProxyType(dict(headers))
        self.exchange = exchange
        self.key = key
        self.queue = queue
        self.redelivered = redelivered
        self.delivery_count = delivery_count
        self._settle = settle
        self._outcome: str | None = None
        self._consumer: RawConsumer | None = None

    def __repr__(self) -> str:
        state = _OUTCOMES[self._outcome] if self._outcome else "unsettled"
        return (
            f"<RawMessage {self.key!r} on {self.exchange!r} from queue {self.queue!r}, "
            f"{len(self.body)} bytes, {state}>"
        )

    def span(self) -> contextlib.AbstractContextManager[None]:
        """A context in which handling the message is an OpenTelemetry consumer span, the
        child of its publisher's (from the ``traceparent`` header) where the process set up
        OpenTelemetry; else a context that does nothing::

            with message.span():
                handle(message.body)
        """
        return consumer_span(f"process {self.key}", "consumer", self.headers)

    @property
    def settled(self) -> bool:
        """Whether the message was settled (or went back to its queue with its consumer)."""
        return self._outcome is not None

    async def ack(self) -> None:
        """Done with it: the broker forgets the message."""
        await self._finish("ack", "acknowledge")

    async def nack(self, *, requeue: bool = True) -> None:
        """Not done: back to the queue (``requeue=True``, delivered again, to this or
        another consumer, with ``redelivered`` set), or refused for good (``False``: as
        :meth:`reject`)."""
        await self._finish("requeue" if requeue else "reject", "nack")

    async def reject(self) -> None:
        """Refuse it for good: dead-lettered where the queue has a dead-letter route
        (``delivery_limit``: RabbitMQ's ``<queue>.dlq``, NATS' dead-letter stream), else
        dropped."""
        await self._finish("reject", "reject")

    async def _finish(self, how: str, attempted: str) -> None:
        if self._outcome is not None:
            raise AlreadySettled(self.queue, _OUTCOMES[self._outcome], attempted)
        self._outcome = how
        if self._consumer is not None:
            self._consumer._unsettled.discard(self)
        await self._settle(how)


#: Called on the event loop for each raw message a driver delivers; must not block.
RawHandler = Callable[[RawMessage], None]


class RawConsumer:
    """The messages of one queue, from :meth:`Transport.consume
    <anker.messaging.Transport.consume>`: an async context manager (it starts consuming on
    entry and stops on exit) and an async iterator of :class:`RawMessage`.

    ::

        async with transport.consume("shop", "billing", ["orders.*"]) as messages:
            async for message in messages:
                handle(message.body)
                await message.ack()

    At most ``prefetch`` messages are delivered and not settled at a time. When the consumer
    closes, what it received and did not settle goes back to the queue (``redelivered``).
    With a signing transport, a message without a valid signature for its exchange and key
    is acknowledged and counted (``anker_messages_refused_total{cause}``), never returned,
    unless unsigned ones are allowed (``allow_unsigned=True``; badly signed ones are still
    refused).

    .. versionadded:: 0.2
    """

    def __init__(
        self,
        transport: Transport,
        exchange: str,
        queue: str,
        bindings: Sequence[str],
        *,
        prefetch: int,
        durable: bool,
        allow_unsigned: bool = False,
    ) -> None:
        self.transport = transport
        self.exchange = exchange
        self.queue = queue
        self.bindings = tuple(bindings)
        self.prefetch = prefetch
        self.durable = durable
        self.allow_unsigned = allow_unsigned
        self._delivered: asyncio.Queue[RawMessage | object] = asyncio.Queue()
        self._unsettled: set[RawMessage] = set()
        self._late: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None
        self._state = "new"  # new -> open -> closed
        self._refusals = Refusals(f"the consumer of {queue}")

    def __repr__(self) -> str:
        return f"<RawConsumer of queue {self.queue!r} on {self.exchange!r} ({self._state})>"

    async def start(self) -> None:
        """Declare the queue and its bindings, and start consuming (``async with`` does)."""
        if self._state == "open":
            return
        if self._state == "closed":
            raise RuntimeError(f"{self!r} was closed; consume again for a new one")
        self._subscription = await self.transport.subscribe_raw(
            self.exchange,
            self.queue,
            self.bindings,
            self._on_message,
            prefetch=self.prefetch,
            durable=self.durable,
        )
        self._state = "open"
        self.transport._raw_consumers.add(self)

    def _on_message(self, message: RawMessage) -> None:
        if self._state == "closed":  # arrived while the subscription was being cancelled
            message._outcome = "requeue"
            task = asyncio.ensure_future(message._settle("requeue"))
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return
        message._consumer = self
        self._unsettled.add(message)
        self._delivered.put_nowait(message)

    async def get(self, timeout: float | None = None) -> RawMessage:
        """The next message (waiting up to ``timeout`` seconds: then ``TimeoutError``).
        Raises :class:`~anker.messaging.TransportClosed` once the consumer is closed."""
        if timeout is None:
            return await self._next()
        async with asyncio.timeout(timeout):
            return await self._next()

    async def _next(self) -> RawMessage:
        while True:
            if self._state == "closed":
                raise TransportClosed(f"{self.transport.url} (consumer of {self.queue})")
            message = self._delivered.get_nowait() if self._delivered.qsize() else None
            if message is None:
                message = await self._delivered.get()
            if message is _CLOSED:
                self._delivered.put_nowait(_CLOSED)  # for the next reader too
                continue
            assert isinstance(message, RawMessage)
            if message._outcome is None and not await self._refused(message):
                return message

    async def _refused(self, message: RawMessage) -> bool:
        signing = self.transport.signing
        if signing is None:
            return False
        problem = signing.raw_problem(
            message.body,
            message.headers,
            raw_route(message.exchange, message.key),
            queue=message.queue,
            redelivered=message.redelivered,
            allow_unsigned=self.allow_unsigned,
        )
        if problem is None:  # checked: the signature is the transport's, not the publisher's
            headers = {k: v for k, v in message.headers.items() if k != RAW_SIGNATURE_HEADER}
            message.headers = MappingProxyType(headers)
            return False
        self._refusals.refused(problem, message.queue, repr(message.key))
        await message.ack()
        return True

    def __aiter__(self) -> AsyncIterator[RawMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[RawMessage]:
        while True:
            try:
                yield await self.get()
            except TransportClosed:
                return

    async def close(self) -> None:
        """Stop consuming; every message received and not settled goes back to the queue
        (settling one after that raises :class:`~anker.messaging.AlreadySettled`)."""
        if self._state == "closed":
            return
        self._state = "closed"
        self.transport._raw_consumers.discard(self)
        subscription, self._subscription = self._subscription, None
        try:
            if subscription is not None:
                await subscription.cancel()
        finally:
            for message in list(self._unsettled):
                message._outcome = "requeue"
                try:
                    await message._settle("requeue")
                except Exception as exc:  # the broker redelivers it anyway
                    log.debug("could not requeue a message from %s: %s", self.queue, exc)
            self._unsettled.clear()
            self._delivered.put_nowait(_CLOSED)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
