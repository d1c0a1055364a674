"""The messaging API on the in-process transport: options, life cycle, blocking wrappers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from anker.errors import BlockingCallInEventLoop, DriverNotFound, InvalidOption
from anker.messaging import (
    BlockingTransport,
    InvalidTarget,
    MessagingTimeout,
    Notifier,
    RequestContext,
    RPCClient,
    RPCServer,
    ServerStopped,
    Target,
    TransportClosed,
    VersionCapError,
    connect,
)
from anker.messaging.transports import TransportSettings


class Echo:
    def echo(self, context: RequestContext, value: Any) -> Any:
        return value


def memory_url() -> str:
    return f"memory://u{uuid.uuid4().hex[:8]}"


async def test_options_come_from_the_url_and_keywords() -> None:
    url = memory_url() + "?prefetch=7&durable=yes&max_message_size=1MiB&queue_expiry=2m"
    transport = await connect(url, timeout="2.5s")
    async with transport:
        assert transport.settings == TransportSettings(
            prefetch=7, durable=True, timeout=2.5, max_message_size=1 << 20, queue_expiry=120
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prefetsh": "1"}, r"'prefetsh' of the 'memory://' .*did you mean 'prefetch'"),
        ({"prefetch": "0"}, "'prefetch' .* at least 1"),
        ({"timeout": "soon"}, "'timeout' .* a duration"),
        ({"durable": "maybe"}, "'durable' .* a boolean"),
        ({"max_message_size": "huge"}, "'max_message_size' .* a size"),
    ],
)
async def test_bad_options_are_named(options: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidOption, match=message):
        await connect(memory_url(), **options)


async def test_an_unknown_scheme_suggests_one() -> None:
    with pytest.raises(DriverNotFound, match="rabbit"):
        await connect("rabit://localhost/")


async def test_brokers_are_kept_apart_by_name() -> None:
    async with (
        await connect(memory_url()) as one,
        await connect(memory_url()) as other,
        RPCServer(one, Target(topic="t", server="s"), [Echo()]),
    ):
        with pytest.raises(MessagingTimeout):
            await RPCClient(other, Target(topic="t"), timeout=0.3).call(None, "echo", value=1)
        assert await RPCClient(one, Target(topic="t")).call(None, "echo", value=1) == 1


async def test_a_closed_transport_refuses_work() -> None:
    transport = await connect(memory_url())
    await transport.aclose()
    await transport.aclose()  # closing twice is fine
    with pytest.raises(TransportClosed):
        await RPCClient(transport, Target(topic="t")).cast(None, "echo", value=1)


async def test_a_stopped_server_is_not_started_again() -> None:
    async with await connect(memory_url()) as transport:
        server = RPCServer(transport, Target(topic="t", server="s"), [Echo()])
        await server.start()
        await server.stop()
        await server.stop()  # stopping twice is fine
        with pytest.raises(ServerStopped):
            await server.start()


async def test_targets_are_checked_where_they_are_used() -> None:
    async with await connect(memory_url()) as transport:
        with pytest.raises(InvalidTarget, match="topic"):
            RPCServer(transport, Target(), [Echo()])
        with pytest.raises(InvalidTarget, match="fanout"):
            await RPCClient(transport, Target(topic="t", fanout=True)).call(None, "echo", value=1)
        capped = RPCClient(transport, Target(topic="t", version="2.1"), version_cap="2.0")
        assert not capped.can_send_version("2.1")
        with pytest.raises(VersionCapError, match="version cap"):
            await capped.cast(None, "echo", value=1)
        with pytest.raises(ValueError, match="priority"):
            await Notifier(transport, "p").notify(None, "e", {}, "loud")


@pytest.mark.parametrize(
    "changes",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": float("nan")},
        {"call_monitor_timeout": 0},
        {"cast_ttl": -1},
    ],
)
async def test_times_are_checked_in_prepare_as_in_the_constructor(changes: dict[str, Any]) -> None:
    # a call with timeout=0 or call_monitor_timeout=0 used to fail at once with a timeout
    # error ("no reply ... within -1 s"), far from where the value was set
    async with await connect(memory_url()) as transport:
        client = RPCClient(transport, Target(topic="t"))
        (name,) = changes
        with pytest.raises(ValueError, match=f"{name} must be more than 0 seconds"):
            client.prepare(**changes)
        with pytest.raises(ValueError, match=f"{name} must be more than 0 seconds"):
            RPCClient(transport, Target(topic="t"), **changes)


async def test_a_context_of_another_kind_is_named() -> None:
    # an oslo.context RequestContext (or a string) failed with "'str' object has no
    # attribute 'items'"
    async with await connect(memory_url()) as transport:
        client = RPCClient(transport, Target(topic="t"))
        with pytest.raises(TypeError, match=r"context is an anker\.messaging\.RequestContext"):
            await client.cast("req-1", "echo", value=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="not object"):
            await Notifier(transport, "p").info(object(), "e", {})


@pytest.mark.parametrize("ttl", [0, -1, float("nan")])
async def test_a_notifier_ttl_is_checked(ttl: float) -> None:
    # a notifier with ttl=-1 sent every notification already expired: dropped unseen
    async with await connect(memory_url()) as transport:
        with pytest.raises(ValueError, match="ttl must be more than 0 seconds"):
            Notifier(transport, "p", ttl=ttl)


def test_blocking_wrappers_from_threads() -> None:
    with (
        BlockingTransport.connect(memory_url()) as transport,
        transport.rpc_server(Target(topic="t", server="s"), [Echo()]),
    ):
        client = transport.rpc_client(Target(topic="t"), timeout=5)
        assert client.call(None, "echo", value={"a": [1]}) == {"a": [1]}
        client.prepare(server="s").cast(None, "echo", value=2)
        transport.notifier("me").info(None, "thing.done", {"ok": True})


async def test_blocking_wrappers_refuse_to_block_an_event_loop() -> None:
    transport = await asyncio.to_thread(BlockingTransport.connect, memory_url())
    try:
        client = transport.rpc_client(Target(topic="t"))
        with pytest.raises(BlockingCallInEventLoop):
            client.cast(None, "echo", value=1)
    finally:
        await asyncio.to_thread(transport.close)


async def test_a_server_given_new_endpoints_serves_with_them() -> None:
    class Old:
        target = Target(version="1.1")

        async def which(self, context: RequestContext) -> str:
            return "old"

    class New:
        target = Target(version="1.1")

        async def which(self, context: RequestContext) -> str:
            return "new"

    class Other:
        target = Target(version="2.0")

        async def which(self, context: RequestContext) -> str:
            return "other major"

    async with await connect(memory_url()) as transport:
        server = RPCServer(transport, Target(topic="t", server="s"), [Old(), Other()])
        async with server:
            client = RPCClient(transport, Target(topic="t"), timeout=5)
            # the method is looked up per version: a 2.0 call does not reuse the 1.0 answer
            assert await client.prepare(version="1.0").call(None, "which") == "old"
            assert await client.prepare(version="2.0").call(None, "which") == "other major"
            server.endpoints = (New(),)
            assert await client.prepare(version="1.0").call(None, "which") == "new"
