"""Raw messages on NATS beyond the conformance suite: a consumer whose connection dropped
gets what it had not settled again after ``ack_wait``; rejects and messages over
``delivery_limit`` are kept in the exchange's dead-letter stream; the subjects are readable
by plain NATS clients."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import nats
import pytest

from anker._url import parse_url
from anker.messaging import DeliveryFailure, MessageTooLarge, RPCClient, Target, connect
from anker.messaging.transports.nats import _names
from tcp_proxy import TCPProxy, through

pytestmark = pytest.mark.integration


@pytest.fixture
async def exchange(nats_url: str) -> AsyncIterator[str]:
    """The test's raw exchange; its streams are deleted after it."""
    name = f"t{uuid.uuid4().hex[:10]}-raw"
    yield name
    client = await nats.connect(nats_url, connect_timeout=5, allow_reconnect=False)
    try:
        js = client.jetstream(timeout=5)
        for stream in (_names.raw_stream, _names.dead_letter_stream):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(stream(name)[0])
    finally:
        await client.close()


async def test_a_message_held_across_a_connection_blip_is_still_the_consumers(
    nats_url: str, exchange: str
) -> None:
    """The transport keeps telling JetStream the message is in progress (every ack_wait / 2),
    so a short loss of the connection does not take it away from a consumer still working."""
    endpoint = parse_url(nats_url).endpoints[0]
    proxy = TCPProxy((endpoint.host, endpoint.port or 4222))
    await proxy.start()
    publisher = await connect(nats_url)
    consuming = await connect(through(nats_url, proxy.port), ack_wait=1, reconnect_wait=0.1)
    try:
        async with consuming.consume(exchange, "q", ["jobs.#"]) as consumer:
            await publisher.publish(exchange, "jobs", b"work")
            first = await consumer.get(timeout=10)
            await proxy.cut()
            await asyncio.sleep(0.3)
            await proxy.restore()
            await asyncio.sleep(2.5)  # past ack_wait, twice
            await first.ack()
            await publisher.publish(exchange, "jobs.next", b"next")
            following = await consumer.get(timeout=10)
            assert (following.body, following.redelivered) == (b"next", False)
            await following.ack()
    finally:
        await consuming.aclose()
        await publisher.aclose()
        await proxy.aclose()


async def test_what_a_consumer_that_is_gone_left_unsettled_comes_again_after_ack_wait(
    nats_url: str, exchange: str
) -> None:
    endpoint = parse_url(nats_url).endpoints[0]
    proxy = TCPProxy((endpoint.host, endpoint.port or 4222))
    await proxy.start()
    survivor = await connect(nats_url, ack_wait=1)
    doomed = await connect(through(nats_url, proxy.port), ack_wait=1, reconnect_wait=0.1)
    try:
        async with doomed.consume(exchange, "q", ["jobs.#"]) as lost:
            await survivor.publish(exchange, "jobs", b"work")
            first = await lost.get(timeout=10)
            assert first.delivery_count == 1
            await proxy.cut()  # for good: as if its process died
            async with survivor.consume(exchange, "q", ["jobs.#"]) as consumer:
                again = await consumer.get(timeout=15)  # once ack_wait ran out
                assert again.body == b"work"
                assert again.redelivered
                assert again.delivery_count == 2
                await again.ack()
    finally:
        await doomed.aclose()
        await survivor.aclose()
        await proxy.aclose()


async def test_rejected_and_too_often_delivered_messages_are_dead_lettered(
    nats_url: str, exchange: str
) -> None:
    transport = await connect(nats_url, delivery_limit=2)
    try:
        async with transport.consume(exchange, "q", ["#"]) as consumer:
            await transport.publish(exchange, "refused", b"1", headers={"Why": "test"})
            await (await consumer.get(timeout=10)).reject()
            await transport.publish(exchange, "flaky", b"2")
            for _ in range(2):
                await (await consumer.get(timeout=10)).nack()
            with pytest.raises(TimeoutError):
                await consumer.get(timeout=0.5)  # the third delivery is over the limit
    finally:
        await transport.aclose()
    stream, _ = _names.dead_letter_stream(exchange)
    subject = _names.dead_letter_subject(exchange, _names.raw_consumer("q"))
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        info = await js.stream_info(stream)
        assert info.state.messages == 2
        kept = await js.get_last_msg(stream, subject)
        assert kept.data == b"2"
        assert kept.headers is not None
        assert "delivery_limit" in kept.headers["Anker-Dead-Reason"]
    finally:
        await client.close()


async def test_plain_nats_clients_read_the_subjects(nats_url: str, exchange: str) -> None:
    transport = await connect(nats_url)
    client = await nats.connect(nats_url)
    try:
        async with transport.consume(exchange, "q", ["orders.*"]):
            seen = await client.subscribe(f"anker.raw.{exchange}.orders.*.~")
            await client.flush()
            await transport.publish(exchange, "orders.new", b"7", headers={"A": "1"})
            msg = await seen.next_msg(timeout=5)
            assert msg.subject == f"anker.raw.{exchange}.orders.new.~"
            assert msg.data == b"7"
            assert msg.headers is not None
            assert msg.headers["A"] == "1"
    finally:
        await client.close()
        await transport.aclose()


async def test_the_first_queue_decides_where_the_stream_is_kept(
    nats_url: str, exchange: str
) -> None:
    transport = await connect(nats_url)  # durable=false: the default
    client = await nats.connect(nats_url)
    try:
        async with (
            transport.consume(exchange, "kept", ["#"], durable=True),
            transport.consume(exchange, "quick", ["#"]),  # no conflict with the first
        ):
            info = await client.jetstream().stream_info(_names.raw_stream(exchange)[0])
            assert info.config.storage == "file"
    finally:
        await client.close()
        await transport.aclose()


async def test_a_publish_whose_stream_was_deleted_fails_at_once(
    nats_url: str, exchange: str
) -> None:
    publisher = await connect(nats_url, timeout=10)
    consuming = await connect(nats_url)
    client = await nats.connect(nats_url)
    try:
        async with consuming.consume(exchange, "q", ["k"]):
            await publisher.publish(exchange, "k", b"1")  # the publisher knows the queue
        await client.jetstream().delete_stream(_names.raw_stream(exchange)[0])
        began = time.monotonic()
        with pytest.raises(DeliveryFailure, match="stream is gone"):
            await publisher.publish(exchange, "k", b"2")
        assert time.monotonic() - began < 5  # not after timeout
        with pytest.raises(DeliveryFailure, match="unroutable"):
            await publisher.publish(exchange, "k", b"3")
    finally:
        await client.close()
        await consuming.aclose()
        await publisher.aclose()


async def test_a_message_over_the_servers_max_payload_names_that_limit(
    nats_url: str, exchange: str
) -> None:
    # the shared server takes 1 MiB, less than max_message_size's 16 MiB: the error named
    # max_message_size, which a user would raise to no effect
    transport = await connect(nats_url)
    small = await connect(nats_url, max_message_size=1000)
    try:
        async with transport.consume(exchange, "q", ["k"]):
            with pytest.raises(MessageTooLarge, match="the server's max_payload") as error:
                await transport.publish(exchange, "k", b"x" * (3 * 2**19))
            assert error.value.limit == 2**20
            with pytest.raises(MessageTooLarge, match="the server's max_payload"):
                await RPCClient(transport, Target(topic=exchange)).cast(
                    None, "m", blob="x" * (3 * 2**19)
                )
            with pytest.raises(MessageTooLarge, match=r"\(max_message_size\)"):
                await small.publish(exchange, "k", b"x" * 2000)
    finally:
        await small.aclose()
        await transport.aclose()
