"""The NATS test server answers requests and keeps messages in JetStream."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration


async def test_request_reply_round_trip(nats_url: str) -> None:
    import nats

    client = await nats.connect(nats_url, connect_timeout=5, allow_reconnect=False)
    try:
        subject = f"anker.probe.{uuid.uuid4().hex}"

        async def echo(msg: nats.aio.msg.Msg) -> None:
            await msg.respond(msg.data[::-1])

        await client.subscribe(subject, cb=echo)
        reply = await client.request(subject, b"anker", timeout=5)
        assert reply.data == b"rekna"
    finally:
        await client.close()


async def test_jetstream_round_trip(nats_url: str) -> None:
    import nats
    from nats.js.api import StorageType

    client = await nats.connect(nats_url, connect_timeout=5, allow_reconnect=False)
    stream = f"ANKER_PROBE_{uuid.uuid4().hex}"
    subject = f"anker.probe.{stream.lower()}"
    js = client.jetstream(timeout=5)
    try:
        await js.add_stream(name=stream, subjects=[subject], storage=StorageType.MEMORY)
        ack = await js.publish(subject, b"kept")
        assert ack.stream == stream
        assert ack.seq == 1
        consumer = await js.pull_subscribe(subject, durable="probe", stream=stream)
        [message] = await consumer.fetch(1, timeout=5)
        await message.ack()
        assert message.data == b"kept"
    finally:
        await js.delete_stream(stream)
        await client.close()
