"""What only the nats:// transport does: no responders, JetStream durability and dead letters,
reconnection after the server restarts, and its connection errors and options.

The conformance suite (tests/integration/messaging) runs the common behaviour on NATS too.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats_support import PrivateNats, free_port

from anker.errors import InvalidOption
from anker.messaging import (
    MessagingTimeout,
    NoResponders,
    NotificationListener,
    NotificationResult,
    Notifier,
    RequestContext,
    RPCClient,
    RPCServer,
    Target,
    Transport,
    TransportUnavailable,
    _wire,
    connect,
)
from anker.messaging.transports.nats import _names
from servers import forget_nats_streams
from waiting import eventually

pytestmark = pytest.mark.integration


class Echo:
    async def echo(self, context: RequestContext, value: Any) -> Any:
        return value


class Sink:
    def __init__(self, result: NotificationResult = NotificationResult.HANDLED) -> None:
        self.seen: list[Any] = []
        self.result = result

    async def info(
        self, context: RequestContext, publisher_id: str, event_type: str, payload: Any, _: Any
    ) -> NotificationResult:
        self.seen.append(payload["n"])
        return self.result


@pytest.fixture
async def names(nats_url: str) -> AsyncIterator[str]:
    """A prefix for the test's exchange and topics; its streams are deleted after it."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    await forget_nats_streams(nats_url, f"{prefix}-x")


async def open_nats(url: str, names: str, **options: Any) -> Transport:
    return await connect(url, exchange=f"{names}-x", **options)


async def test_a_call_nobody_serves_fails_at_once(nats_url: str, names: str) -> None:
    transport = await open_nats(nats_url, names)
    try:
        client = RPCClient(transport, Target(topic=names), timeout=30)
        started = time.monotonic()
        with pytest.raises(NoResponders) as error:
            await client.call(None, "echo", value=1)
        assert time.monotonic() - started < 5  # NATS said so; the 30 s timeout never ran
        assert isinstance(error.value, MessagingTimeout)
        assert error.value.method == "echo"
        assert names in str(error.value)
        # a server of the topic that is not the one asked for does not answer either
        async with RPCServer(transport, Target(topic=names, server="a"), [Echo()]):
            assert await client.call(None, "echo", value=2) == 2
            with pytest.raises(NoResponders, match="echo"):
                await client.prepare(server="b").call(None, "echo", value=3)
    finally:
        await transport.aclose()


class Gate:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def wait(self, context: RequestContext) -> str:
        self.started += 1
        await self.release.wait()
        return "done"


async def test_calls_a_stopping_server_hands_back_with_no_other_server_fail_at_once(
    nats_url: str, names: str
) -> None:
    transport = await open_nats(nats_url, names)
    try:
        gate = Gate()
        server = RPCServer(transport, Target(topic=names, server="a"), [gate], max_concurrency=1)
        await server.start()
        client = RPCClient(transport, Target(topic=names), timeout=30)
        calls = [asyncio.create_task(client.call(None, "wait")) for _ in range(3)]
        await eventually(lambda: gate.started == 1)
        started = time.monotonic()
        stopping = asyncio.create_task(server.stop(deadline=10))
        await asyncio.sleep(0.2)
        gate.release.set()  # the running call may finish; the two waiting go back to NATS
        await stopping
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert results.count("done") == 1
        # nobody else serves the topic: NATS says so, and the callers learn it at once
        assert sorted(type(r).__name__ for r in results if r != "done") == ["NoResponders"] * 2
        assert time.monotonic() - started < 10
        assert gate.started == 1
    finally:
        await transport.aclose()


async def test_an_unreachable_server_is_named_with_the_password_masked() -> None:
    url = f"nats://alice:s3cret-pw@127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(TransportUnavailable) as error:
        await connect(url, timeout=1)
    assert time.monotonic() - started < 10
    text = str(error.value)
    assert "s3cret-pw" not in text
    assert "s3cret-pw" not in repr(error.value)
    assert f"nats://alice:****@127.0.0.1:{url.rsplit(':', 1)[1]}" in text
    assert "connecting" in text


async def test_bad_options_are_named() -> None:
    with pytest.raises(InvalidOption, match="did you mean 'ack_wait'"):
        await connect("nats://127.0.0.1:4222?ack_wiat=5")
    with pytest.raises(InvalidOption, match="quorum"):
        await connect("nats://127.0.0.1:4222?quorum=true")
    with pytest.raises(InvalidOption, match="reconnect_wait"):
        await connect("nats://127.0.0.1:4222", reconnect_wait="soon")


async def test_notifications_wait_for_a_restarted_listener(nats_url: str, names: str) -> None:
    pool = f"{names}-pool"
    first = await open_nats(nats_url, names)
    sink = Sink()
    try:
        async with NotificationListener(first, [Target(topic=names)], [sink], pool=pool):
            notifier = Notifier(first, "svc", topics=[names])
            for n in range(3):
                await notifier.info(None, "tick", {"n": n})
            await eventually(lambda: sink.seen == [0, 1, 2])
        # the pool's listener is gone (its process too): these wait in the pool's consumer
        for n in range(3, 6):
            await notifier.info(None, "tick", {"n": n})
    finally:
        await first.aclose()
    second = await open_nats(nats_url, names)
    later = Sink()
    try:
        async with NotificationListener(second, [Target(topic=names)], [later], pool=pool):
            await eventually(lambda: sorted(later.seen) == [3, 4, 5])
            await asyncio.sleep(0.3)
        assert sorted(later.seen) == [3, 4, 5]  # nothing the first listener acked came again
    finally:
        await second.aclose()


async def test_a_slow_handler_is_not_delivered_again_after_ack_wait(
    nats_url: str, names: str
) -> None:
    class Slow(Sink):
        async def info(self, *args: Any) -> NotificationResult:
            result = await super().info(*args)
            await asyncio.sleep(2.5)  # past ack_wait: the transport says "in progress"
            return result

    transport = await open_nats(nats_url, names, ack_wait=1)
    slow = Slow()
    try:
        async with NotificationListener(transport, [Target(topic=names)], [slow]):
            await Notifier(transport, "svc", topics=[names]).info(None, "slow", {"n": 1})
            await eventually(lambda: slow.seen == [1])
            await asyncio.sleep(3.5)
        assert slow.seen == [1]
    finally:
        await transport.aclose()


async def test_a_message_requeued_too_often_is_dead_lettered(nats_url: str, names: str) -> None:
    import nats

    transport = await open_nats(nats_url, names, delivery_limit=3)
    flaky = Sink(NotificationResult.REQUEUE)
    try:
        listener = NotificationListener(
            transport, [Target(topic=names)], [flaky], allow_requeue=True
        )
        async with listener:
            await Notifier(transport, "svc", topics=[names]).info(None, "poison", {"n": 7})
            await eventually(lambda: len(flaky.seen) == 3)
            await asyncio.sleep(0.5)
        assert flaky.seen == [7, 7, 7]  # delivered delivery_limit times, then never again
    finally:
        await transport.aclose()
    stream, _ = _names.dead_letter_stream(f"{names}-x")
    key = f"{names}.info"
    subject = _names.dead_letter_subject(f"{names}-x", _names.pool_consumer(key, key))
    client = await nats.connect(nats_url)
    try:
        kept = await client.jetstream().get_last_msg(stream, subject)
        assert _wire.unwrap(kept.data, "the dead letters")["payload"] == {"n": 7}
        assert kept.headers is not None
        assert "delivery_limit" in kept.headers["Anker-Dead-Reason"]
    finally:
        await client.close()


async def test_confirmed_notifications_survive_a_server_restart(
    private_nats: PrivateNats, names: str
) -> None:
    url = f"{private_nats.url}?durable=true&timeout=20s&reconnect_wait=0.1s"
    transport = await open_nats(url, names)
    targets = [Target(topic=names)]
    live, later = Sink(), Sink()
    try:
        # pool "later" exists (its consumer does) but has no listener during the restart
        async with NotificationListener(transport, targets, [later], pool=f"{names}-later"):
            pass
        async with NotificationListener(transport, targets, [live], pool=f"{names}-live"):
            notifier = Notifier(transport, "svc", topics=[names])
            for n in range(5):
                await notifier.info(None, "tick", {"n": n})  # returned: JetStream stored it
            await eventually(lambda: sorted(live.seen) == list(range(5)))
            private_nats.kill()
            # sent while the server is down: sent again until it is back (within timeout)
            sending = asyncio.create_task(notifier.info(None, "tick", {"n": 5}))
            await asyncio.sleep(0.5)
            assert not sending.done()
            private_nats.start()
            await sending
            # the listener that was running goes on pulling on the new connection; a SIGKILLed
            # server may have lost acknowledgements it had not written yet, so some come twice
            # (at least once), but none is lost
            await eventually(lambda: set(live.seen) == set(range(6)), timeout=20)
        # what the server confirmed before it was killed is still there for the other pool
        async with NotificationListener(transport, targets, [later], pool=f"{names}-later"):
            await eventually(lambda: set(later.seen) == set(range(6)), timeout=20)
        # RPC works again on the reconnected transport
        async with RPCServer(transport, Target(topic=names, server="a"), [Echo()]):
            client = RPCClient(transport, Target(topic=names), timeout=10)
            assert await client.call(None, "echo", value="back") == "back"
    finally:
        await transport.aclose()


async def test_a_server_that_is_down_is_a_transport_error(
    private_nats: PrivateNats, names: str
) -> None:
    transport = await open_nats(f"{private_nats.url}?timeout=1s", names)
    try:
        private_nats.kill()
        started = time.monotonic()
        with pytest.raises(TransportUnavailable, match=private_nats.url):
            await RPCServer(transport, Target(topic=names, server="a"), [Echo()]).start()
        # a call waits in nats-py's reconnect buffer for the server, as long as its timeout
        with pytest.raises(MessagingTimeout):
            await RPCClient(transport, Target(topic=names), timeout=1).call(None, "echo", value=1)
        with pytest.raises(TransportUnavailable, match="notification"):
            await Notifier(transport, "svc", topics=[names]).info(None, "tick", {"n": 0})
        assert time.monotonic() - started < 15
    finally:
        await transport.aclose()


async def test_streams_lost_with_a_server_without_store_are_made_again(
    private_nats: PrivateNats, names: str
) -> None:
    # not durable: streams in memory, gone when the server restarts
    transport = await open_nats(f"{private_nats.url}?timeout=20s&reconnect_wait=0.1s", names)
    sink = Sink()
    try:
        async with NotificationListener(transport, [Target(topic=names)], [sink]):
            notifier = Notifier(transport, "svc", topics=[names])
            await notifier.info(None, "tick", {"n": 0})
            await eventually(lambda: sink.seen == [0])
            private_nats.kill()
            private_nats.start()
            # the notifier makes its stream and consumer again; the listener pulls again
            await notifier.info(None, "tick", {"n": 1})
            await eventually(lambda: sink.seen == [0, 1], timeout=20)
    finally:
        await transport.aclose()
