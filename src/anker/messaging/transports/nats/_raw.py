"""Raw messages on NATS: a JetStream stream per exchange (``anker-raw-<exchange>``, subjects
``anker.raw.<exchange>.<key words>.~``, interest retention) and a durable pull consumer per
queue (``raw-<queue>``) whose description records the queue's AMQP binding patterns.

JetStream before 2.10 takes one filter subject per consumer, and NATS wildcards cannot say
every AMQP pattern (``#`` before the last word), so a queue's consumer filters on one subject
covering all its patterns (exactly the pattern when there is one NATS can say) and the
consumer checks each key against the patterns, acknowledging at once what they do not match.

A publish is refused as unroutable when no queue of the exchange has a pattern matching the
key (an interest stream would keep nothing): the transport remembers the queues it saw and
asks the server for the stream's consumers again before refusing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Final

from anker.messaging import _topics, _wire
from anker.messaging._errors import DeliveryFailure
from anker.messaging._raw import RawHandler, RawMessage
from anker.messaging._transport import Incoming
from anker.messaging.transports.nats import _names as names
from anker.messaging.transports.nats._core import Budget
from anker.messaging.transports.nats._link import MSG_ID_HEADER, TTL_HEADER
from anker.messaging.transports.nats._stream import PULL_EXPIRES, StreamConsumer

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from anker.messaging.transports.nats._link import Connected

#: how a raw queue's consumer describes itself: this, then its patterns as a JSON list
DESCRIPTION: Final = "anker raw queue; bindings: "
#: headers the transport sets and a raw consumer does not show
_OWN: Final = (MSG_ID_HEADER.lower(), TTL_HEADER.lower())
_HOW: Final = {"ack": "ack", "requeue": "nak", "reject": "dead"}


def bindings_of(description: str | None) -> tuple[str, ...] | None:
    """The patterns a raw queue's consumer description records (None: not a raw queue)."""
    if not description or not description.startswith(DESCRIPTION):
        return None
    try:
        found = json.loads(description[len(DESCRIPTION) :])
    except ValueError:
        return None
    if not isinstance(found, list) or not all(isinstance(p, str) for p in found):
        return None
    return tuple(found)


class RawQueues:
    """The raw queues (and their patterns) of each exchange this transport has seen."""

    def __init__(self) -> None:
        self.known: dict[str, dict[str, tuple[str, ...]]] = {}
        #: (exchange, key) found routed since the queues were last learnt: a hot path
        self._routed: set[tuple[str, str]] = set()

    def learn(self, exchange: str, queues: dict[str, tuple[str, ...]]) -> None:
        self.known[exchange] = queues
        self._routed.clear()

    def add(self, exchange: str, queue: str, bindings: tuple[str, ...]) -> None:
        self.known.setdefault(exchange, {})[queue] = bindings

    def routed(self, exchange: str, key: str) -> bool:
        if (exchange, key) in self._routed:
            return True
        found = any(
            _topics.matcher(pattern)(key)
            for patterns in self.known.get(exchange, {}).values()
            for pattern in patterns
        )
        if found and len(self._routed) < 4096:
            self._routed.add((exchange, key))
        return found

    async def refresh(self, transport: Connected, exchange: str) -> None:
        """Ask the server for the exchange's queues (the consumers of its stream)."""
        assert transport._nats is not None
        not_found = transport._nats.js.errors.NotFoundError
        js = transport.jetstream
        stream = names.raw_stream(exchange)[0]

        async def listing() -> dict[str, tuple[str, ...]]:
            found: dict[str, tuple[str, ...]] = {}
            try:
                while True:
                    page = await js.consumers_info(stream, offset=len(found) or None)
                    for info in page:
                        patterns = bindings_of(info.config.description)
                        found[info.name] = patterns or ()
                    if len(page) < 256 or not page:
                        return found
            except not_found:
                return {}

        self.learn(exchange, await transport._retrying(listing, f"listing the queues of {stream}"))


async def publish(
    transport: Connected,
    queues: RawQueues,
    *,
    exchange: str,
    key: str,
    body: bytes,
    headers: dict[str, str],
    ttl: float | None,
) -> None:
    what = f"message {key!r} to exchange {exchange!r}"
    size = len(body) + sum(len(k) + len(v) + 4 for k, v in headers.items())
    if size > transport.limit:
        raise transport.too_large(what, size)
    if not queues.routed(exchange, key):
        await queues.refresh(transport, exchange)
        if not queues.routed(exchange, key):
            raise DeliveryFailure(
                what,
                "no queue is bound to the exchange with a pattern matching the key "
                "(unroutable: no consumer of its stream wants it)",
            )
    sent = {**headers, MSG_ID_HEADER: _wire.new_id()}  # retries are stored once
    if ttl is not None:
        sent[TTL_HEADER] = str(max(int(ttl * 1000), 1))
    assert transport._nats is not None
    no_stream = transport._nats.js.errors.NoStreamResponseError
    js = transport.jetstream
    subject = names.raw_subject(exchange, key)

    async def attempt() -> None:
        try:
            await js.publish(subject, body, headers=sent)
        except no_stream:
            raise _StreamGone from None

    try:
        await transport._retrying(attempt, what)
    except _StreamGone:
        queues.learn(exchange, {})
        raise DeliveryFailure(
            what, "the exchange's stream is gone, and with it its queues (unroutable)"
        ) from None


class _StreamGone(Exception):
    """No stream takes a raw subject any more: it was deleted, or a server lost its store."""


async def _stream(transport: Connected, exchange: str, durable: bool) -> None:
    """Make the exchange's stream if it does not exist (on disk if ``durable``): the first
    queue decides, and queues made later with other durability take it as it is."""
    assert transport._nats is not None
    api = transport._nats.js.api
    not_found = transport._nats.js.errors.NotFoundError
    name, subjects = names.raw_stream(exchange)
    js = transport.jetstream
    config = api.StreamConfig(
        name=name,
        subjects=[subjects],
        retention=api.RetentionPolicy.INTEREST,
        storage=api.StorageType.FILE if durable else api.StorageType.MEMORY,
        max_msg_size=transport.settings.max_message_size,
    )

    async def make() -> None:
        try:
            await js.stream_info(name)
        except not_found:
            await js.add_stream(config)

    await transport._once(("stream", name), make, f"making stream {name}")


async def make_queue(
    transport: Connected,
    exchange: str,
    queue: str,
    bindings: tuple[str, ...],
    *,
    durable: bool,
) -> None:
    """Make the exchange's stream and the queue's consumer; a queue made before with other
    patterns is refused (a consumer's filter cannot change before JetStream 2.10)."""
    assert transport._nats is not None
    api = transport._nats.js.api
    not_found = transport._nats.js.errors.NotFoundError
    stream = names.raw_stream(exchange)[0]
    consumer_name = names.raw_consumer(queue)
    await _stream(transport, exchange, durable)
    dead_stream, dead_subjects = names.dead_letter_stream(exchange)
    await transport.stream(dead_stream, dead_subjects, dead_letters=True)
    js = transport.jetstream
    config = api.ConsumerConfig(
        durable_name=consumer_name,
        description=DESCRIPTION + json.dumps(sorted(bindings)),
        filter_subject=names.raw_cover(exchange, bindings),
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.NEW,  # as a new AMQP queue: nothing sent before
        ack_wait=float(transport.settings.ack_wait),
    )

    async def make() -> None:
        try:
            info = await js.consumer_info(stream, consumer_name)
        except not_found:
            await js.add_consumer(stream, config)
            return
        had = bindings_of(info.config.description)
        if had is None or set(had) != set(bindings):
            raise ValueError(
                f"consuming queue {queue!r} of exchange {exchange!r}: on NATS the queue is "
                f"bound to {list(had or ())}, and a JetStream consumer keeps the bindings "
                f"it was made with; consume it with those, not {sorted(bindings)}"
            )

    await transport._retrying(make, f"making queue {queue} of exchange {exchange}")


def _refuse(incoming: Incoming) -> None:
    raise AssertionError("a raw queue's messages go to its RawHandler")


class RawStreamConsumer(StreamConsumer):
    """Pulls a raw queue's messages from its consumer and hands them over as
    :class:`~anker.messaging.RawMessage` (those its patterns do not match are acknowledged)."""

    def __init__(
        self,
        transport: Connected,
        *,
        exchange: str,
        queue: str,
        bindings: tuple[str, ...],
        raw: RawHandler,
        prefetch: int,
        remake: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(
            transport,
            stream=names.raw_stream(exchange)[0],
            durable=names.raw_consumer(queue),
            where=queue,
            handler=_refuse,
            budget=Budget(prefetch),
            dead_letters=names.dead_letter_subject(exchange, names.raw_consumer(queue)),
            delivery_limit=transport.settings.delivery_limit,
            remake=remake,
        )
        self.exchange = exchange
        self.matchers = [_topics.matcher(pattern) for pattern in bindings]
        self.raw = raw

    async def cancel(self) -> None:
        """Stop pulling; with messages to requeue, wait until the pull under way ended
        (within ``PULL_EXPIRES``), so that they go to another consumer's pull and not to a
        pull request of this one that JetStream still holds (and a closing connection would
        lose, until ``ack_wait``)."""
        await super().cancel()
        task = self._task
        if self.unsettled and task is not None and not task.done():
            await asyncio.wait([task], timeout=2 * PULL_EXPIRES)

    async def _deliver(self, msg: Msg) -> None:
        key = names.raw_key(msg.subject)
        if key is None or not any(match(key) for match in self.matchers):
            with contextlib.suppress(Exception):
                await msg.ack()  # under the filter, but for another queue's patterns
            return
        admitted = await self._admit(msg)
        if admitted is None:
            return
        delivered, _ = admitted
        headers = {k: v for k, v in (msg.headers or {}).items() if k.lower() not in _OWN}
        self.budget.unsettled += 1
        self.unsettled[id(msg)] = msg

        async def settle(how: str) -> None:
            await self.settle(msg, _HOW[how])

        self.raw(
            RawMessage(
                msg.data,
                headers=headers,
                exchange=self.exchange,
                key=key,
                queue=self.where,
                redelivered=delivered > 1,
                delivery_count=delivered,
                settle=settle,
            )
        )


async def consumer(
    transport: Connected,
    exchange: str,
    queue: str,
    bindings: Sequence[str],
    handler: RawHandler,
    *,
    prefetch: int,
    durable: bool,
) -> RawStreamConsumer:
    patterns = tuple(bindings)

    async def remake() -> None:
        await make_queue(transport, exchange, queue, patterns, durable=durable)

    await remake()  # JetStream's refusals are TransportUnavailable, other bindings ValueError
    return RawStreamConsumer(
        transport,
        exchange=exchange,
        queue=queue,
        bindings=patterns,
        raw=handler,
        prefetch=prefetch,
        remake=remake,
    )
