"""anker and oslo.messaging on one RabbitMQ: each calls, serves, notifies and listens to the other.

oslo.messaging (a test-only dependency) runs with its threading executor; its blocking calls
run in worker threads so the event loop keeps serving anker's side.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from anker.messaging import (
    NoSuchMethod,
    NotificationListener,
    Notifier,
    RemoteError,
    RequestContext,
    RPCClient,
    RPCServer,
    Target,
    Transport,
    UnsupportedVersion,
    connect,
)
from waiting import eventually

pytestmark = [
    pytest.mark.integration,
    # oslo.messaging imports oslo.service, which imports eventlet (not used: threading executor)
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

oslo_messaging = pytest.importorskip("oslo_messaging")
cfg = pytest.importorskip("oslo_config.cfg")


class OsloError(Exception):
    pass


class OsloEndpoint:
    target = oslo_messaging.Target(namespace="compute", version="5.3")

    def __init__(self) -> None:
        self.casts: list[Any] = []
        self.contexts: list[dict[str, Any]] = []
        self.got = threading.Event()

    def add(self, ctxt: dict[str, Any], a: int, b: int) -> int:
        self.contexts.append(ctxt)
        return a + b

    def record(self, ctxt: dict[str, Any], value: Any) -> None:
        self.casts.append(value)
        self.got.set()

    def slow(self, ctxt: dict[str, Any], seconds: float) -> str:
        time.sleep(seconds)
        return "slow done"

    def fail_builtin(self, ctxt: dict[str, Any]) -> None:
        raise ValueError("oslo says no")

    def fail_custom(self, ctxt: dict[str, Any]) -> None:
        raise OsloError("oslo custom")

    def _private(self, ctxt: dict[str, Any]) -> None:
        raise AssertionError("never called remotely")


class AnkerEndpoint:
    target = Target(namespace="compute", version="5.3")

    def __init__(self) -> None:
        self.casts: list[Any] = []
        self.contexts: list[RequestContext] = []

    async def add(self, context: RequestContext, a: int, b: int) -> int:
        self.contexts.append(context)
        return a + b

    async def record(self, context: RequestContext, value: Any) -> None:
        self.casts.append(value)

    async def slow(self, context: RequestContext, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "slow done"

    async def fail_builtin(self, context: RequestContext) -> None:
        raise KeyError("anker says no")

    async def fail_custom(self, context: RequestContext) -> None:
        raise OsloError("anker custom")

    async def echo(self, context: RequestContext, value: Any) -> Any:
        return value

    async def _private(self, context: RequestContext) -> None:
        raise AssertionError("never called remotely")


@pytest.fixture
def topic() -> str:
    return f"interop{uuid.uuid4().hex[:10]}"


def oslo_conf() -> Any:
    # oslo.messaging 18 registers some of its options (metrics, tracing) on the global
    # CONF only, so a private ConfigOpts fails there: use the global one, as services do.
    cfg.CONF([], project="anker-interop")
    return cfg.CONF


@pytest.fixture
def oslo_transport(rabbit_url: str) -> Iterator[Any]:
    transport = oslo_messaging.get_rpc_transport(oslo_conf(), url=rabbit_url)
    yield transport
    transport.cleanup()


@pytest.fixture
def oslo_notification_transport(rabbit_url: str) -> Iterator[Any]:
    transport = oslo_messaging.get_notification_transport(oslo_conf(), url=rabbit_url)
    yield transport
    transport.cleanup()


@pytest.fixture
async def transport(rabbit_url: str) -> AsyncIterator[Transport]:
    transport = await connect(rabbit_url)
    yield transport
    await transport.aclose()


def start_oslo_server(transport: Any, topic: str, endpoint: OsloEndpoint, server: str) -> Any:
    rpc_server = oslo_messaging.get_rpc_server(
        transport,
        oslo_messaging.Target(topic=topic, server=server),
        [endpoint],
        executor="threading",
    )
    rpc_server.start()
    return rpc_server


async def stop_oslo(server: Any) -> None:
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.wait)


# -- anker client -> oslo.messaging server ----------------------------------------------------


async def test_anker_calls_an_oslo_server(
    transport: Transport, oslo_transport: Any, topic: str
) -> None:
    endpoint = OsloEndpoint()
    servers = [
        start_oslo_server(oslo_transport, topic, endpoint, "h1"),
        start_oslo_server(oslo_transport, topic, OsloEndpoint(), "h2"),
    ]
    try:
        client = RPCClient(
            transport, Target(topic=topic, namespace="compute", version="5.1"), timeout=20
        )
        context = RequestContext(user_id="alice", project_id="p1", roles=("member",))
        assert await client.call(context, "add", a=2, b=40) == 42
        assert endpoint.contexts[0]["user"] == "alice"
        assert endpoint.contexts[0]["project_id"] == "p1"
        assert endpoint.contexts[0]["request_id"] == context.request_id
        assert await client.prepare(server="h1").call(None, "add", a=1, b=1) == 2
        await client.prepare(server="h1").cast(None, "record", value={"k": "v"})
        await eventually(lambda: endpoint.casts == [{"k": "v"}])
        await client.prepare(fanout=True).cast(None, "record", value="everyone")
        await eventually(lambda: "everyone" in endpoint.casts)
        with pytest.raises(ValueError, match="oslo says no"):
            await client.call(None, "fail_builtin")
        with pytest.raises(RemoteError) as remote:
            await client.call(None, "fail_custom")
        assert remote.value.exc_type.endswith("OsloError")
        assert remote.value.traceback
        with pytest.raises(UnsupportedVersion):
            await client.prepare(version="6.0").call(None, "add", a=1, b=1)
        # a slow method: oslo's heartbeats keep the call alive past call_monitor_timeout
        monitored = client.prepare(call_monitor_timeout=2, timeout=30)
        assert await monitored.call(None, "slow", seconds=4) == "slow done"
    finally:
        for server in servers:
            await stop_oslo(server)


# -- oslo.messaging client -> anker server ----------------------------------------------------


async def test_an_oslo_client_calls_an_anker_server(
    transport: Transport, oslo_transport: Any, topic: str
) -> None:
    endpoint = AnkerEndpoint()
    async with (
        RPCServer(transport, Target(topic=topic, server="a1"), [endpoint]),
        RPCServer(transport, Target(topic=topic, server="a2"), [AnkerEndpoint()]),
    ):
        client = oslo_messaging.get_rpc_client(
            oslo_transport,
            oslo_messaging.Target(topic=topic, namespace="compute", version="5.2"),
            timeout=20,
        )
        ctxt = {"user": "bob", "project_id": "p2", "request_id": "req-oslo-1", "roles": ["admin"]}
        assert await asyncio.to_thread(client.call, ctxt, "add", a=20, b=22) == 42
        seen = endpoint.contexts[0] if endpoint.contexts else None
        if seen is None:  # the call went to the other server; ask the first directly
            direct = client.prepare(server="a1")
            assert await asyncio.to_thread(direct.call, ctxt, "add", a=1, b=1) == 2
            seen = endpoint.contexts[0]
        assert (seen.user_id, seen.project_id, seen.request_id) == ("bob", "p2", "req-oslo-1")
        assert seen.roles == ("admin",)
        await asyncio.to_thread(client.prepare(server="a1").cast, ctxt, "record", value=[1, 2])
        await eventually(lambda: endpoint.casts == [[1, 2]])
        await asyncio.to_thread(client.prepare(fanout=True).cast, ctxt, "record", value="all")
        await eventually(lambda: "all" in endpoint.casts)
        with pytest.raises(KeyError, match="anker says no"):
            await asyncio.to_thread(client.call, ctxt, "fail_builtin")
        with pytest.raises(oslo_messaging.RemoteError) as remote:
            await asyncio.to_thread(client.call, ctxt, "fail_custom")
        assert remote.value.exc_type == "OsloError"
        with pytest.raises(oslo_messaging.RemoteError) as version:
            await asyncio.to_thread(client.prepare(version="6.0").call, ctxt, "add", a=1, b=1)
        assert version.value.exc_type == "UnsupportedVersion"
        # anker's server sends heartbeats an oslo client understands
        monitored = client.prepare(call_monitor_timeout=2, timeout=30)
        assert await asyncio.to_thread(monitored.call, ctxt, "slow", seconds=4) == "slow done"


# -- dispatch errors: an oslo caller sees the same from either server ------------------------

# (namespace, version, method): oslo's dispatcher raises UnsupportedVersion unless an endpoint
# serves the namespace at a compatible version (then NoSuchMethod)
DISPATCH_ERRORS = [
    ("nowhere", "5.0", "add"),  # an unknown namespace
    ("nowhere", "5.0", "missing"),
    ("compute", "6.0", "missing"),  # an unknown method at an incompatible version
    ("compute", "6.0", "add"),
    ("compute", "5.4", "add"),
    ("compute", "5.0", "missing"),  # an unknown method at a compatible version
    ("compute", "5.0", "_private"),
    (None, "1.0", "add"),  # no namespace: no endpoint here has none
]


async def oslo_dispatch_errors(client: Any) -> list[tuple[str, str]]:
    """What an oslo client raises for each DISPATCH_ERRORS call: (exc_type, message)."""
    seen = []
    for namespace, version, method in DISPATCH_ERRORS:
        prepared = client.prepare(namespace=namespace, version=version)
        with pytest.raises(oslo_messaging.RemoteError) as error:
            await asyncio.to_thread(prepared.call, {}, method)
        seen.append((error.value.exc_type, error.value.value))
    return seen


async def test_dispatch_errors_are_the_same_from_anker_and_oslo_servers(
    transport: Transport, oslo_transport: Any, topic: str
) -> None:
    oslo_server = start_oslo_server(oslo_transport, f"{topic}-oslo", OsloEndpoint(), "o1")
    try:
        from_oslo = await oslo_dispatch_errors(
            oslo_messaging.get_rpc_client(
                oslo_transport, oslo_messaging.Target(topic=f"{topic}-oslo"), timeout=20
            )
        )
    finally:
        await stop_oslo(oslo_server)
    async with RPCServer(transport, Target(topic=f"{topic}-anker", server="a1"), [AnkerEndpoint()]):
        from_anker = await oslo_dispatch_errors(
            oslo_messaging.get_rpc_client(
                oslo_transport, oslo_messaging.Target(topic=f"{topic}-anker"), timeout=20
            )
        )
        # and an anker client reads an anker server's errors as it reads an oslo server's
        client = RPCClient(transport, Target(topic=f"{topic}-anker"), timeout=20)
        for (namespace, version, method), (exc_type, _) in zip(
            DISPATCH_ERRORS, from_oslo, strict=True
        ):
            prepared = client.prepare(namespace=namespace, version=version)
            expected = UnsupportedVersion if exc_type == "UnsupportedVersion" else NoSuchMethod
            with pytest.raises(expected):
                await prepared.call(None, method)
    assert [kind for kind, _ in from_oslo] == [
        "UnsupportedVersion",
        "UnsupportedVersion",
        "UnsupportedVersion",
        "UnsupportedVersion",
        "UnsupportedVersion",
        "NoSuchMethod",
        "NoSuchMethod",
        "UnsupportedVersion",
    ]
    assert from_anker == from_oslo


async def test_nan_and_infinity_cross_to_oslo_and_back(
    transport: Transport, oslo_transport: Any, topic: str
) -> None:
    values = [math.nan, math.inf, -math.inf, 1.5]
    async with RPCServer(transport, Target(topic=topic, server="a1"), [AnkerEndpoint()]):
        client = oslo_messaging.get_rpc_client(
            oslo_transport,
            oslo_messaging.Target(topic=topic, namespace="compute", version="5.0"),
            timeout=20,
        )
        back = await asyncio.to_thread(client.call, {}, "echo", value=values)
    assert math.isnan(back[0])  # not None: anker writes NaN as oslo does
    assert back[1:] == values[1:]


# -- notifications both ways ----------------------------------------------------------------


class AnkerSink:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any, RequestContext]] = []

    async def info(
        self,
        context: RequestContext,
        publisher_id: str,
        event_type: str,
        payload: Any,
        metadata: dict[str, Any],
    ) -> None:
        self.seen.append((publisher_id, event_type, payload, context))


@pytest.mark.parametrize("driver", ["messagingv2", "messaging"])
async def test_oslo_notifications_reach_an_anker_listener(
    transport: Transport, oslo_notification_transport: Any, topic: str, driver: str
) -> None:
    sink = AnkerSink()
    async with NotificationListener(transport, [Target(topic=topic)], [sink], pool=f"{topic}-p"):
        notifier = oslo_messaging.Notifier(
            oslo_notification_transport, publisher_id="compute.h1", driver=driver, topics=[topic]
        )
        context_module = pytest.importorskip("oslo_context.context")
        ctxt = context_module.RequestContext(user_id="carol", request_id="req-n1")
        await asyncio.to_thread(notifier.info, ctxt, "instance.create.end", {"id": "vm-1"})
        await eventually(lambda: len(sink.seen) == 1)
    publisher, event_type, payload, context = sink.seen[0]
    assert (publisher, event_type, payload) == ("compute.h1", "instance.create.end", {"id": "vm-1"})
    assert (context.user_id, context.request_id) == ("carol", "req-n1")


async def test_anker_notifications_reach_an_oslo_listener(
    transport: Transport, oslo_notification_transport: Any, topic: str
) -> None:
    received: list[tuple[dict[str, Any], str, str, Any, dict[str, Any]]] = []

    class OsloSink:
        def info(
            self,
            ctxt: dict[str, Any],
            publisher_id: str,
            event_type: str,
            payload: Any,
            metadata: Any,
        ) -> None:
            received.append((ctxt, publisher_id, event_type, payload, metadata))

    listener = oslo_messaging.get_notification_listener(
        oslo_notification_transport,
        [oslo_messaging.Target(topic=topic)],
        [OsloSink()],
        executor="threading",
        pool=f"{topic}-oslo",
    )
    listener.start()
    try:
        notifier = Notifier(transport, "scheduler.h2", topics=[topic])
        await notifier.info(RequestContext(user_id="dave"), "host.selected", {"host": "h9"})
        await eventually(lambda: len(received) == 1)
    finally:
        await stop_oslo(listener)
    ctxt, publisher, event_type, payload, metadata = received[0]
    assert (publisher, event_type, payload) == ("scheduler.h2", "host.selected", {"host": "h9"})
    assert ctxt["user"] == "dave"
    assert metadata["message_id"]
    assert metadata["timestamp"]
