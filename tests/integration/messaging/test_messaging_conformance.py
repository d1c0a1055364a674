"""What every transport must do, on its real broker: RPC, notifications, TTL, drain.

Each test runs on ``memory://`` and on RabbitMQ (see messaging_support.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from anker.messaging import (
    BatchNotificationListener,
    MessageTooLarge,
    MessagingTimeout,
    NoSuchMethod,
    Notification,
    NotificationFilter,
    NotificationListener,
    NotificationResult,
    Notifier,
    RemoteError,
    RequestContext,
    RichSerializer,
    RPCClient,
    RPCServer,
    ServerUnresponsive,
    Target,
    UnsupportedVersion,
    _wire,
)
from anker.messaging._transport import Incoming
from messaging_support import OpenTransport
from waiting import eventually

# Server-free drivers run in `make unit`; the others are marked `integration` by their fixture.


class CustomError(Exception):
    pass


class Calculator:
    """An endpoint with async and sync methods."""

    target = Target(version="1.3")

    def __init__(self, name: str = "calc") -> None:
        self.name = name
        self.calls: Counter[str] = Counter()
        self.threads: set[str] = set()
        self.contexts: list[RequestContext] = []
        self.release = asyncio.Event()

    async def add(self, context: RequestContext, a: int, b: int) -> int:
        self.calls["add"] += 1
        return a + b

    async def whoami(self, context: RequestContext) -> str:
        self.calls["whoami"] += 1
        return self.name

    def blocking_echo(self, context: RequestContext, value: Any) -> Any:
        self.threads.add(threading.current_thread().name)
        return value

    async def remember(self, context: RequestContext) -> str:
        self.contexts.append(context)
        return context.request_id

    async def sleep(self, context: RequestContext, seconds: float) -> str:
        self.calls["sleep"] += 1
        await asyncio.sleep(seconds)
        return self.name

    async def wait_released(self, context: RequestContext) -> str:
        self.calls["wait_released"] += 1
        await self.release.wait()
        return self.name

    async def fail_builtin(self, context: RequestContext) -> None:
        raise KeyError("no such volume")

    async def fail_custom(self, context: RequestContext) -> None:
        raise CustomError("custom failure")

    async def _private(self, context: RequestContext) -> str:
        return "never"


class Admin:
    target = Target(namespace="admin", version="2.0")

    async def whoami(self, context: RequestContext) -> str:
        return "admin"


# -- RPC ------------------------------------------------------------------------------------


async def test_call_returns_the_result_and_cast_runs(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    calc = Calculator()
    async with RPCServer(transport, Target(topic=names, server="s1"), [calc]):
        client = RPCClient(transport, Target(topic=names), timeout=10)
        assert await client.call(None, "add", a=2, b=3) == 5
        await client.cast(None, "add", a=1, b=1)
        await eventually(lambda: calc.calls["add"] == 2)


async def test_calls_on_two_transports_and_values_survive_the_wire(
    open_transport: OpenTransport, names: str
) -> None:
    server_side, client_side = await open_transport(), await open_transport()
    calc = Calculator()
    value = {"list": [1, 2.5, "x", None, True], "nested": {"k": ["v"]}, "unicode": "żółw"}
    async with RPCServer(server_side, Target(topic=names, server="s1"), [calc]):
        client = RPCClient(client_side, Target(topic=names), timeout=10)
        assert await client.call(None, "blocking_echo", value=value) == value
    # sync endpoint methods run in the server's thread pool, never on the event loop
    assert calc.threads
    assert threading.current_thread().name not in calc.threads


async def test_server_target_and_fanout(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()
    first, second = Calculator("first"), Calculator("second")
    async with (
        RPCServer(transport, Target(topic=names, server="first"), [first]),
        RPCServer(transport, Target(topic=names, server="second"), [second]),
    ):
        client = RPCClient(transport, Target(topic=names), timeout=10)
        for _ in range(5):
            assert await client.prepare(server="second").call(None, "whoami") == "second"
        assert first.calls["whoami"] == 0
        await client.prepare(fanout=True).cast(None, "add", a=1, b=1)
        await eventually(lambda: first.calls["add"] == 1 and second.calls["add"] == 1)
        # calls to the topic are shared between its servers
        served = Counter([await client.call(None, "whoami") for _ in range(40)])
        assert set(served) == {"first", "second"}


async def test_context_travels_with_the_call(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()
    calc = Calculator()
    context = RequestContext(
        user_id="u1",
        project_id="p1",
        roles=("admin", "member"),
        auth_token=_secret("tok-123"),
        extras={"user_name": "alice"},
    )
    async with RPCServer(transport, Target(topic=names, server="s1"), [calc]):
        client = RPCClient(transport, Target(topic=names), timeout=10)
        assert await client.call(context, "remember") == context.request_id
    (seen,) = calc.contexts
    assert (seen.user_id, seen.project_id, seen.roles) == ("u1", "p1", ("admin", "member"))
    assert seen.auth_token is not None
    assert seen.auth_token.reveal() == "tok-123"
    assert seen.extras["user_name"] == "alice"
    assert "tok-123" not in repr(seen)


def _secret(value: str) -> Any:
    from anker import Secret

    return Secret(value)


async def test_remote_exceptions(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()
    async with RPCServer(transport, Target(topic=names, server="s1"), [Calculator()]):
        client = RPCClient(transport, Target(topic=names), timeout=10)
        with pytest.raises(KeyError, match="no such volume") as builtin:
            await client.call(None, "fail_builtin")
        assert any("fail_builtin" in line for line in builtin.value.remote_traceback)  # type: ignore[attr-defined]
        with pytest.raises(RemoteError) as remote:
            await client.call(None, "fail_custom")
        assert remote.value.exc_type.endswith("CustomError")
        assert remote.value.value == "custom failure"
        assert any("fail_custom" in line for line in remote.value.traceback)
        allowed = RPCClient(
            transport, Target(topic=names), timeout=10, allowed_remote_exmods=[__name__]
        )
        with pytest.raises(CustomError, match="custom failure"):
            await allowed.call(None, "fail_custom")


async def test_versions_namespaces_and_private_methods(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    async with RPCServer(transport, Target(topic=names, server="s1"), [Calculator(), Admin()]):
        client = RPCClient(transport, Target(topic=names), timeout=10)
        assert await client.prepare(version="1.2").call(None, "add", a=1, b=1) == 2
        with pytest.raises(UnsupportedVersion, match=r"1\.4"):
            await client.prepare(version="1.4").call(None, "add", a=1, b=1)
        with pytest.raises(UnsupportedVersion):
            await client.prepare(version="2.0").call(None, "add", a=1, b=1)
        admin = client.prepare(namespace="admin", version="2.0")
        assert await admin.call(None, "whoami") == "admin"
        with pytest.raises(NoSuchMethod):
            await admin.call(None, "add", a=1, b=1)
        with pytest.raises(NoSuchMethod):
            await client.call(None, "_private")
        with pytest.raises(NoSuchMethod):
            await client.call(None, "missing")


async def test_a_call_nobody_serves_times_out(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()
    client = RPCClient(transport, Target(topic=names), timeout=0.5)
    with pytest.raises(MessagingTimeout) as timeout:
        await client.call(None, "add", a=1, b=1)
    assert timeout.value.method == "add"
    assert names in str(timeout.value)


async def test_heartbeats_keep_a_slow_call_alive(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()
    async with RPCServer(transport, Target(topic=names, server="s1"), [Calculator()]):
        client = RPCClient(transport, Target(topic=names), timeout=20, call_monitor_timeout=2)
        # the call takes longer than call_monitor_timeout: heartbeats every 1 s keep it alive
        assert await client.call(None, "sleep", seconds=3.5) == "calc"


async def test_a_server_that_went_silent_fails_the_call_fast(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    taken: list[Incoming] = []
    # a "server" that takes the request and then says nothing, as a crashed one would
    subscription = await transport.listen(Target(topic=names, server="dead"), taken.append)
    client = RPCClient(transport, Target(topic=names), timeout=30, call_monitor_timeout=1)
    started = time.monotonic()
    with pytest.raises(ServerUnresponsive):
        await client.call(None, "add", a=1, b=1)
    assert time.monotonic() - started < 10  # well before the 30 s timeout
    assert len(taken) == 1
    await subscription.cancel()
    await taken[0].ack()


async def test_rich_serializer_round_trips_types(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()
    serializer = RichSerializer()
    value = {
        "when": dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC),
        "id": uuid.uuid4(),
        "blob": b"\x00\xff",
        "tags": {"a", "b"},
        "pair": (1, 2),
    }
    async with RPCServer(
        transport, Target(topic=names, server="s1"), [Calculator()], serializer=serializer
    ):
        client = RPCClient(transport, Target(topic=names), timeout=10, serializer=serializer)
        assert await client.call(None, "blocking_echo", value=value) == value


async def test_an_oversized_message_fails_at_the_caller(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport(max_message_size=10_000)
    client = RPCClient(transport, Target(topic=names), timeout=5)
    with pytest.raises(MessageTooLarge) as error:
        await client.cast(None, "blocking_echo", value="x" * 20_000)
    assert error.value.limit == 10_000
    assert error.value.size > 20_000


async def test_a_redelivered_request_runs_once(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()
    calc = Calculator()
    message = _wire.request("add", {"a": 1, "b": 2}, {})
    async with RPCServer(transport, Target(topic=names, server="s1"), [calc]):
        target = Target(exchange=f"{names}-x", topic=names)
        await transport.send(target, message)
        await eventually(lambda: calc.calls["add"] == 1)
        await transport.send(target, message)  # the same _unique_id again
        await asyncio.sleep(0.3)
        assert calc.calls["add"] == 1


async def test_a_reply_to_a_vanished_caller_is_logged_once(
    open_transport: OpenTransport, names: str, caplog: pytest.LogCaptureFixture
) -> None:
    transport = await open_transport()
    calc = Calculator()
    caplog.set_level(logging.WARNING, logger="anker.messaging")
    async with RPCServer(transport, Target(topic=names, server="s1"), [calc]):
        for _ in range(3):
            request = _wire.request(
                "add",
                {"a": 1, "b": 2},
                {},
                msg_id=_wire.new_id(),
                reply_q="reply_gone" + names,
                call_monitor_timeout=None,
            )
            await transport.send(Target(exchange=f"{names}-x", topic=names), request)
        await eventually(lambda: calc.calls["add"] == 3)
        await asyncio.sleep(0.1)
    dropped = [r for r in caplog.records if "no longer exists" in r.getMessage()]
    assert len(dropped) == 1


# -- TTL ------------------------------------------------------------------------------------


async def test_an_expired_request_is_never_dispatched(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    calc = Calculator()
    target = Target(topic=names, server="s1")
    server = RPCServer(transport, target, [calc], max_concurrency=1)
    async with server:
        client = RPCClient(transport, Target(topic=names), timeout=10)
        blocked = asyncio.create_task(client.call(None, "wait_released"))
        await eventually(lambda: calc.calls["wait_released"] == 1)
        # queued behind the busy server (in its prefetch or the queue) past its TTL
        await client.prepare(cast_ttl=0.2).cast(None, "add", a=1, b=1)
        await asyncio.sleep(0.6)
        calc.release.set()
        assert await blocked == "calc"
        await asyncio.sleep(0.3)
    assert calc.calls["add"] == 0


async def test_a_message_that_expires_in_the_queue_is_dropped(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    target = Target(topic=names, server="s1")
    calc = Calculator()
    async with RPCServer(transport, target, [Calculator()]):
        pass  # the queues exist now, with no consumer
    client = RPCClient(transport, Target(topic=names), timeout=10)
    await client.prepare(cast_ttl=0.2).cast(None, "add", a=1, b=1)
    await client.cast(None, "add", a=2, b=2)
    await asyncio.sleep(0.5)
    async with RPCServer(transport, target, [calc]):
        await eventually(lambda: calc.calls["add"] == 1)
        await asyncio.sleep(0.2)
    assert calc.calls["add"] == 1


# -- drain ----------------------------------------------------------------------------------


async def test_drain_finishes_in_flight_calls_and_hands_back_the_rest(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    draining, staying = Calculator("draining"), Calculator("staying")
    staying.release.set()
    target = Target(topic=names)
    first = RPCServer(
        transport, target.but(server="a"), [draining], max_concurrency=10, prefetch=50
    )
    second = RPCServer(
        transport, target.but(server="b"), [staying], max_concurrency=10, prefetch=50
    )
    await first.start()
    client = RPCClient(transport, target, timeout=30)
    calls = [asyncio.create_task(client.call(None, "wait_released")) for _ in range(100)]
    await eventually(lambda: draining.calls["wait_released"] == 10)
    await second.start()
    stopping = asyncio.create_task(first.stop(deadline=20))
    await asyncio.sleep(0.2)
    draining.release.set()  # the in-flight calls may finish now
    await stopping
    results = Counter(await asyncio.gather(*calls))
    await second.stop()
    assert sum(results.values()) == 100
    assert results["draining"] == draining.calls["wait_released"] == 10
    assert results["staying"] == staying.calls["wait_released"] == 90


async def test_a_stopped_server_hands_back_what_it_had_not_started(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    slow = Calculator("slow")
    target = Target(topic=names)
    server = RPCServer(transport, target.but(server="a"), [slow], max_concurrency=1, prefetch=20)
    await server.start()
    client = RPCClient(transport, target, timeout=30)
    casts = [client.cast(None, "sleep", seconds=0.2) for _ in range(10)]
    await asyncio.gather(*casts)
    await eventually(lambda: slow.calls["sleep"] == 1)
    await server.stop(deadline=5)
    assert slow.calls["sleep"] == 1
    rest = Calculator("rest")
    async with RPCServer(transport, target.but(server="b"), [rest]):
        await eventually(lambda: rest.calls["sleep"] == 9)


# -- notifications --------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any, str]] = []
        self.contexts: list[RequestContext] = []

    async def info(
        self,
        context: RequestContext,
        publisher_id: str,
        event_type: str,
        payload: Any,
        metadata: dict[str, Any],
    ) -> None:
        self.seen.append((publisher_id, event_type, payload, "info"))
        self.contexts.append(context)

    def error(
        self,
        context: RequestContext,
        publisher_id: str,
        event_type: str,
        payload: Any,
        metadata: dict[str, Any],
    ) -> None:
        self.seen.append((publisher_id, event_type, payload, "error"))


async def test_notifications_reach_a_listener_and_wait_for_one(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    notifier = Notifier(transport, "compute.host1", topics=[names])
    context = RequestContext(user_id="u1")
    # sent before any listener exists: the notifier's queue keeps them
    await notifier.info(context, "instance.create.end", {"id": 1})
    await notifier.error(None, "instance.create.error", {"id": 2})
    await notifier.debug(None, "ignored", {"id": 3})
    sink = Sink()
    async with NotificationListener(transport, [Target(topic=names)], [sink]):
        await eventually(lambda: len(sink.seen) == 2)
    assert sorted(sink.seen) == [
        ("compute.host1", "instance.create.end", {"id": 1}, "info"),
        ("compute.host1", "instance.create.error", {"id": 2}, "error"),
    ]
    assert sink.contexts[0].user_id == "u1"


async def test_pools_each_get_a_copy_and_share_it_within(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    targets = [Target(topic=names)]
    a1, a2, b1 = Sink(), Sink(), Sink()
    async with (
        NotificationListener(transport, targets, [a1], pool=f"{names}-a"),
        NotificationListener(transport, targets, [a2], pool=f"{names}-a"),
        NotificationListener(transport, targets, [b1], pool=f"{names}-b"),
    ):
        notifier = Notifier(transport, "svc", topics=[names])
        await asyncio.gather(*(notifier.info(None, "tick", {"n": n}) for n in range(20)))
        await eventually(lambda: len(a1.seen) + len(a2.seen) == 20 and len(b1.seen) == 20)
        await asyncio.sleep(0.2)
    assert len(a1.seen) + len(a2.seen) == 20
    assert a1.seen
    assert a2.seen
    assert sorted(payload["n"] for _, _, payload, _ in b1.seen) == list(range(20))


async def test_filters_choose_notifications(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()
    wanted = Sink()
    wanted.filter_rule = NotificationFilter(  # type: ignore[attr-defined]
        publisher_id=r"^compute\.", event_type=r"instance\..*", payload={"state": "^active$"}
    )
    everything = Sink()
    async with NotificationListener(transport, [Target(topic=names)], [wanted, everything]):
        notifier = Notifier(transport, "compute.h1", topics=[names])
        await notifier.info(None, "instance.update", {"state": "active"})
        await notifier.info(None, "instance.update", {"state": "error"})
        await notifier.info(None, "volume.update", {"state": "active"})
        await notifier.prepare("network.h1").info(None, "instance.update", {"state": "active"})
        await eventually(lambda: len(everything.seen) == 4)
    assert wanted.seen == [("compute.h1", "instance.update", {"state": "active"}, "info")]


async def test_requeue_on_request(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()

    class Flaky:
        def __init__(self) -> None:
            self.attempts = 0

        async def info(self, *args: Any) -> NotificationResult:
            self.attempts += 1
            return NotificationResult.REQUEUE if self.attempts < 3 else NotificationResult.HANDLED

    flaky = Flaky()
    async with NotificationListener(transport, [Target(topic=names)], [flaky], allow_requeue=True):
        await Notifier(transport, "svc", topics=[names]).info(None, "retry.me", {})
        await eventually(lambda: flaky.attempts == 3)
        await asyncio.sleep(0.2)
    assert flaky.attempts == 3


async def test_batch_listener(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()
    batches: list[list[Notification]] = []

    class BatchSink:
        async def info(self, notifications: list[Notification]) -> None:
            batches.append(notifications)

    listener = BatchNotificationListener(
        transport, [Target(topic=names)], [BatchSink()], batch_size=5, batch_timeout=0.3
    )
    async with listener:
        notifier = Notifier(transport, "svc", topics=[names])
        for n in range(7):
            await notifier.info(None, "tick", {"n": n})
        await eventually(lambda: sum(len(b) for b in batches) == 7)
    assert [len(b) for b in batches] == [5, 2]
    assert sorted(note.payload["n"] for b in batches for note in b) == list(range(7))
