"""Raw messages on RabbitMQ beyond the conformance suite: a cut connection (the broker
redelivers what was unsettled, to the same consumer once it is back), quorum queues with a
delivery limit (rejects dead-lettered, deliveries counted), and programs that are not anker
sharing the exchange with any AMQP client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from anker.messaging import Transport
from rabbit_support import TCPProxy, _open, amqp_url, through

pytestmark = pytest.mark.integration


@pytest.fixture
async def names(rabbit_url: str) -> AsyncIterator[str]:
    """A prefix for the test's exchange and queues, deleted after it."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    connection = await aio_pika.connect(amqp_url(rabbit_url))
    async with connection:
        channel = await connection.channel()
        for name in ("q", "q.dlq", "pika"):
            await channel.queue_delete(f"{prefix}-{name}")
        await channel.exchange_delete(f"{prefix}-raw")


async def test_a_cut_connection_gives_the_unsettled_message_back_to_the_consumer(
    rabbit_url: str, names: str, transports: list[Transport]
) -> None:
    from anker._url import parse_url

    endpoint = parse_url(rabbit_url).endpoints[0]
    proxy = TCPProxy((endpoint.host, endpoint.port or 5672))
    await proxy.start()
    try:
        transport = await _open(transports, through(rabbit_url, proxy.port), timeout=10)
        exchange, queue = f"{names}-raw", f"{names}-q"
        async with transport.consume(exchange, queue, ["jobs.*"]) as consumer:
            await transport.publish(exchange, "jobs.1", b"work")
            first = await consumer.get(timeout=10)
            assert not first.redelivered
            await proxy.cut()
            # published while disconnected: waits for the connection, then is confirmed
            sending = asyncio.create_task(transport.publish(exchange, "jobs.2", b"more"))
            await asyncio.sleep(0.5)
            assert not sending.done()
            await proxy.restore()
            await asyncio.wait_for(sending, 10)
            await first.ack()  # its channel is gone: nothing to do, the broker redelivers
            bodies = {}
            for _ in range(2):
                message = await consumer.get(timeout=10)
                bodies[message.body] = message.redelivered
                await message.ack()
            assert bodies == {b"work": True, b"more": False}
    finally:
        await proxy.aclose()


async def test_quorum_queues_count_deliveries_and_dead_letter_rejects(
    rabbit_url: str, names: str, transports: list[Transport]
) -> None:
    transport = await _open(transports, rabbit_url, quorum=True, delivery_limit=5)
    exchange, queue = f"{names}-raw", f"{names}-q"
    async with transport.consume(exchange, queue, ["#"]) as consumer:
        await transport.publish(exchange, "bad.one", b"poison", headers={"Kind": "test"})
        first = await consumer.get(timeout=10)
        await first.nack()
        second = await consumer.get(timeout=10)
        assert second.redelivered
        assert second.delivery_count == 2  # x-delivery-count: one delivery before this one
        await second.reject()
    connection = await aio_pika.connect(amqp_url(rabbit_url))
    async with connection:
        channel = await connection.channel()
        dead = await channel.declare_queue(f"{queue}.dlq", passive=True)
        message = await dead.get(timeout=5)
        assert message.body == b"poison"
        assert message.headers["Kind"] == "test"
        await message.ack()


async def test_programs_that_are_not_anker_share_the_exchange(
    rabbit_url: str, names: str, transports: list[Transport]
) -> None:
    transport = await _open(transports, rabbit_url)
    exchange, queue = f"{names}-raw", f"{names}-q"
    connection = await aio_pika.connect(amqp_url(rabbit_url))
    async with connection, transport.consume(exchange, queue, ["from.pika"]) as consumer:
        channel = await connection.channel()
        topic = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        theirs = await channel.declare_queue(f"{names}-pika")
        await theirs.bind(topic, "from.anker")
        await topic.publish(
            aio_pika.Message(b"hello anker", headers={"Count": 3, "Name": "pika"}),
            routing_key="from.pika",
        )
        message = await consumer.get(timeout=10)
        assert message.body == b"hello anker"
        assert dict(message.headers) == {"Count": "3", "Name": "pika"}  # as text
        await message.ack()
        await transport.publish(exchange, "from.anker", b"hello pika", headers={"A": "1"})
        received = await theirs.get(timeout=5)
        assert received.body == b"hello pika"
        assert received.headers == {"A": "1"}
        assert received.routing_key == "from.anker"
        await received.ack()
