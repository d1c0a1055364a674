"""What the raw-message benchmarks share: publish ``count`` messages with broker confirms,
``WINDOW`` in flight, while one consumer in the same process takes and acknowledges each, timed
from the first publish to the last acknowledgement: messages/s (publishing alone, every
confirm in, as an extra).

Each side has its own event loop and two connections (one publishing, one consuming), made
once when the side opens, with a fresh exchange and queue that are deleted when it closes.
Publisher and consumer share the process (and its GIL) on every side alike.

Sides:

* anker: ``Transport.publish`` (returns once confirmed) and a ``RawConsumer`` (``get`` then
  ``ack``), prefetch 128, on ``rabbit://`` or ``nats://``.
* raw aio-pika (RabbitMQ's floor): a topic exchange, a queue bound with ``bench.#``, a
  publishing channel with publisher confirms (``mandatory``, as anker's), a consuming channel
  with prefetch 128 and an ack per message.
* raw nats-py JetStream (NATS's floor): a stream, a durable pull consumer with explicit acks,
  ``js.publish`` (waits for the stream's acknowledgement) and ``fetch`` in batches of up to 64,
  an ack per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from bench._harness import Measure, Measured, Side
from bench.suites._msg import amqp_url, rabbit_url
from bench.suites._msg_nats import nats_url

WINDOW = 64
PREFETCH = 128
BODY = b'{"order": 7, "total": "12.50", "lines": [1, 2, 3]}'
HEADERS = {"content-kind": "order"}

#: one side's publisher and consumer: publish(key) and take() -> ack'd
Publish = Callable[[str], Awaitable[None]]
Take = Callable[[], Awaitable[None]]


async def _run(publish: Publish, take: Take, count: int) -> Measured:
    async def consume() -> float:
        for _ in range(count):
            await take()
        return time.monotonic()

    async def send(share: int) -> None:
        for _ in range(share):
            await publish("bench.order.created")

    reader = asyncio.ensure_future(consume())
    began = time.monotonic()
    shares = [count // WINDOW + (1 if i < count % WINDOW else 0) for i in range(WINDOW)]
    await asyncio.gather(*(send(share) for share in shares if share))
    sent = time.monotonic()
    ended = await reader
    return Measured(count / (ended - began), {"sent/s": count / (sent - began)})


Opener = Callable[[str, str], Any]  # (url, names) -> async context manager of (publish, take)


def side(
    name: str, opener: Opener, url: Callable[[], str], *, anker: bool, needs: tuple[str, ...]
) -> Side:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        loop = asyncio.new_event_loop()
        names = f"bench{uuid.uuid4().hex[:12]}"
        manager = opener(url(), names)
        try:
            publish, take = loop.run_until_complete(manager.__aenter__())
            try:
                yield lambda count: loop.run_until_complete(_run(publish, take, count))
            finally:
                loop.run_until_complete(manager.__aexit__(None, None, None))
        finally:
            loop.close()

    return Side(name, opened, is_anker=anker, requires=needs)


@contextlib.asynccontextmanager
async def anker_side(url: str, names: str) -> Any:
    from anker.messaging import connect

    publisher = await connect(url)
    consuming = await connect(url)
    consumer = consuming.consume(names, names, ["bench.#"], prefetch=PREFETCH)
    try:
        await consumer.start()

        async def publish(key: str) -> None:
            await publisher.publish(names, key, BODY, headers=HEADERS)

        async def take() -> None:
            message = await consumer.get()
            await message.ack()

        yield publish, take
    finally:
        await consumer.close()
        await consuming.aclose()
        await publisher.aclose()
        await _forget(url, names)


@contextlib.asynccontextmanager
async def pika_side(url: str, names: str) -> Any:
    import aio_pika

    publishing = await aio_pika.connect(amqp_url(url))
    consuming = await aio_pika.connect(amqp_url(url))
    try:
        channel = await publishing.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(names, aio_pika.ExchangeType.TOPIC)
        reading = await consuming.channel()
        await reading.set_qos(prefetch_count=PREFETCH)
        queue = await reading.declare_queue(names)
        await queue.bind(names, "bench.#")
        received: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(received.put)

        async def publish(key: str) -> None:
            await exchange.publish(
                aio_pika.Message(BODY, headers=dict(HEADERS), delivery_mode=2),
                routing_key=key,
                mandatory=True,
            )

        async def take() -> None:
            message = await received.get()
            await message.ack()

        yield publish, take
    finally:
        await consuming.close()
        await publishing.close()
        await _forget(url, names)


@contextlib.asynccontextmanager
async def jetstream_side(url: str, names: str) -> Any:
    import nats
    from nats.js import api

    publishing = await nats.connect(url)
    consuming = await nats.connect(url)
    stream = f"{names}-raw"
    try:
        js = publishing.jetstream()
        await js.add_stream(
            name=stream,
            subjects=[f"{names}.>"],
            retention=api.RetentionPolicy.INTEREST,
            storage=api.StorageType.MEMORY,
        )
        await js.add_consumer(
            stream,
            api.ConsumerConfig(
                durable_name="q",
                ack_policy=api.AckPolicy.EXPLICIT,
                deliver_policy=api.DeliverPolicy.NEW,
            ),
        )
        pull = await consuming.jetstream().pull_subscribe_bind(durable="q", stream=stream)
        waiting: list[Any] = []

        async def publish(key: str) -> None:
            await js.publish(f"{names}.{key}", BODY, headers=dict(HEADERS))

        async def take() -> None:
            while not waiting:
                with contextlib.suppress(TimeoutError):
                    waiting.extend(reversed(await pull.fetch(WINDOW, timeout=1.0)))
            await waiting.pop().ack()

        yield publish, take
    finally:
        with contextlib.suppress(Exception):
            await publishing.jetstream().delete_stream(stream)
        await consuming.close()
        await publishing.close()


async def _forget(url: str, names: str) -> None:
    """Delete the exchange and queue (RabbitMQ) or the streams (NATS) a side made."""
    with contextlib.suppress(Exception):
        if url.startswith("nats"):
            import nats

            from anker.messaging.transports.nats import _names

            client = await nats.connect(url)
            try:
                for stream in (_names.raw_stream, _names.dead_letter_stream):
                    with contextlib.suppress(Exception):
                        await client.jetstream().delete_stream(stream(names)[0])
            finally:
                await client.close()
            return
        import aio_pika

        connection = await aio_pika.connect(amqp_url(url))
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(names)
            await channel.exchange_delete(names)


__all__ = ["anker_side", "jetstream_side", "nats_url", "pika_side", "rabbit_url", "side"]
