"""The rabbit:// transport recovers by itself: from a cut connection (a TCP proxy between it
and the shared broker) and from a restart of a private RabbitMQ node (never the shared one)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from anker.messaging import (
    DeliveryFailure,
    MessagingTimeout,
    RPCClient,
    RPCServer,
    Target,
    Transport,
)
from anker.messaging._transport import Incoming
from rabbit_support import (
    PrivateRabbit,
    TCPProxy,
    _open,
    eventually,
    private_node,
    through,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def private_rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbit]:
    yield from private_node(tmp_path_factory)


@pytest.fixture
def names() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class Worker:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def echo(self, context: Any, *, value: Any) -> Any:
        return value

    async def slow(self, context: Any, *, value: Any) -> Any:
        self.started.set()
        await self.release.wait()
        return value


async def test_a_cut_connection_is_restored_with_its_consumers_and_reply_queue(
    rabbit_url: str, names: str, transports: list[Transport], caplog: pytest.LogCaptureFixture
) -> None:
    from anker._url import parse_url

    caplog.set_level(logging.DEBUG)

    endpoint = parse_url(rabbit_url).endpoints[0]
    proxy = TCPProxy((endpoint.host, endpoint.port or 5672))
    await proxy.start()
    try:
        url = through(rabbit_url, proxy.port)
        transport = await _open(transports, url, exchange=f"{names}-x", timeout=10)
        worker = Worker()
        client = RPCClient(transport, Target(topic=names), timeout=10)
        async with RPCServer(transport, Target(topic=names, server="s1"), [worker]):
            assert await client.call({}, "echo", value=1) == 1
            reply_queue = transport._reply_router.queue

            # a call in flight across the cut: its reply queue survives on the broker
            in_flight = asyncio.create_task(client.call({}, "slow", value="kept"))
            await asyncio.wait_for(worker.started.wait(), 5)
            await proxy.cut()
            # sent while disconnected: waits for the reconnection
            waiting = asyncio.create_task(client.call({}, "echo", value=2))
            await asyncio.sleep(0.5)
            assert not waiting.done()
            await proxy.restore()
            worker.release.set()
            assert await asyncio.wait_for(waiting, 10) == 2
            assert await asyncio.wait_for(in_flight, 10) == "kept"
            assert transport._reply_router.queue == reply_queue
            assert await client.call({}, "echo", value=3) == 3
    finally:
        await proxy.aclose()
    # the loss is told once, by the transport, without aiormq's traceback of it
    assert "was lost" in caplog.text
    assert "reader exited abnormally" not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith(("aiormq", "anker")) and r.exc_info]


async def test_casts_calls_and_consumers_survive_a_broker_restart(
    private_rabbit: PrivateRabbit, names: str, transports: list[Transport]
) -> None:
    """10,000 casts with confirms across a restart of the broker (durable queues): every
    confirmed one arrives (duplicates allowed). A call in flight whose reply queue the restart
    lost fails at once with a clear error; later calls work again."""
    url = private_rabbit.url
    options = {"exchange": f"{names}-x", "durable": True, "timeout": 30}
    sender = await _open(transports, url, **options)
    receiver = await _open(transports, url, **options)
    caller = await _open(transports, url, **options)

    received: set[int] = set()
    deliveries = 0

    def handler(incoming: Incoming) -> None:
        nonlocal deliveries
        deliveries += 1
        received.add(incoming.message["args"]["n"])
        asyncio.get_running_loop().create_task(incoming.ack())

    casts_target = Target(topic=f"{names}-casts")
    subscription = await receiver.listen(casts_target, handler, prefetch=500)
    worker = Worker()
    calls_target = Target(topic=f"{names}-calls")
    server = RPCServer(receiver, calls_target, [worker])
    await server.start()
    client = RPCClient(caller, calls_target, timeout=40)
    try:
        assert await client.call({}, "echo", value=0) == 0
        slow = asyncio.create_task(client.call({}, "slow", value="lost"))
        await asyncio.wait_for(worker.started.wait(), 5)

        casts = RPCClient(sender, casts_target)
        total = 10_000
        confirmed: set[int] = set()
        failed: list[BaseException] = []

        async def cast(n: int) -> None:
            try:
                await casts.cast({}, "count", n=n)
            except Exception as exc:
                failed.append(exc)
            else:
                confirmed.add(n)

        sending = asyncio.gather(*(cast(n) for n in range(total)))
        await eventually(lambda: len(confirmed) >= total // 5, 20, "a fifth confirmed")
        restart_started = time.monotonic()
        await asyncio.to_thread(private_rabbit.restart)
        await asyncio.wait_for(sending, 40)
        assert not failed, f"{len(failed)} casts failed, e.g. {failed[0]!r}"
        assert len(confirmed) == total

        # the call in flight lost its reply queue with the restart: a clear error, no timeout
        with pytest.raises(DeliveryFailure, match="lost reply queue") as raised:
            await asyncio.wait_for(slow, 20)
        assert not isinstance(raised.value, MessagingTimeout)
        assert time.monotonic() - restart_started < 30
        worker.release.set()

        # every confirmed cast arrives (the consumer came back by itself)
        await eventually(lambda: received >= confirmed, 20, "every confirmed cast received")
        assert deliveries >= len(confirmed)
        # the reply queue is back under its name: calls work again
        assert await client.call({}, "echo", value=1) == 1
    finally:
        worker.release.set()
        await server.stop(deadline=2)
        await subscription.cancel()


async def test_a_reply_lost_with_the_connection_is_sent_again_without_running_twice(
    rabbit_url: str, names: str, transports: list[Transport]
) -> None:
    """Replies are not confirmed: the request they answer covers them. The server's connection
    is cut as its reply leaves, so neither the reply nor the request's acknowledgement is
    sure to reach the broker: the request comes back and the server answers it from its
    record of finished requests, without running the method again."""
    from anker._url import parse_url

    endpoint = parse_url(rabbit_url).endpoints[0]
    proxy = TCPProxy((endpoint.host, endpoint.port or 5672))
    await proxy.start()
    runs = 0

    class CutAfter:
        async def answer(self, context: Any, *, value: Any) -> Any:
            nonlocal runs
            runs += 1
            asyncio.get_running_loop().create_task(proxy.cut())  # as the reply leaves
            return value

    try:
        options = {"exchange": f"{names}-x", "timeout": 10}
        server_side = await _open(transports, through(rabbit_url, proxy.port), **options)
        client_side = await _open(transports, rabbit_url, **options)
        client = RPCClient(client_side, Target(topic=names), timeout=20)
        async with RPCServer(server_side, Target(topic=names, server="s1"), [CutAfter()]):
            call = asyncio.create_task(client.call({}, "answer", value="once"))
            await eventually(lambda: runs == 1)
            await asyncio.sleep(0.3)
            assert not call.done()  # the reply was lost with the connection
            await proxy.restore()
            assert await asyncio.wait_for(call, 15) == "once"
            await asyncio.sleep(0.5)  # a redelivery, if any, is answered, not run
            assert runs == 1
    finally:
        await proxy.aclose()
