"""The RabbitMQ test server routes a message to a queue and hands it out."""

from __future__ import annotations

import uuid

import pytest

from anker._url import parse_url

pytestmark = pytest.mark.integration


def amqp_url(rabbit_url: str) -> str:
    """The AMQP URL of the first broker of an oslo-style ``rabbit://`` URL."""
    url = parse_url(rabbit_url)
    return url.render(mask=False).replace(f"{url.scheme}://", "amqp://", 1)


async def test_round_trip_a_message(rabbit_url: str) -> None:
    import aio_pika

    body = uuid.uuid4().bytes
    connection = await aio_pika.connect(amqp_url(rabbit_url), timeout=5)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
        message = await queue.get(timeout=5, fail=True)
        assert message is not None
        await message.ack()
        assert message.body == body
