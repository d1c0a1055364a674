"""What a server does with input it cannot serve: it answers or rejects, never loops or wedges.

Each test runs on ``memory://`` and on RabbitMQ (see messaging_support.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
import pytest

from anker import Secret
from anker.messaging import (
    InvalidMessage,
    MessageTooLarge,
    NotificationListener,
    Notifier,
    RemoteError,
    RequestContext,
    RPCClient,
    RPCServer,
    Target,
    TransportClosed,
    _wire,
)
from anker.messaging._client import ReplyRouter, _Pending
from anker.messaging._transport import Incoming
from messaging_support import OpenTransport
from waiting import eventually

# Server-free drivers run in `make unit`; the others are marked `integration` by their fixture.


class Worker:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def big(self, context: RequestContext) -> str:
        self.calls["big"] += 1
        return "x" * 50_000

    async def add(self, context: RequestContext, a: int, b: int) -> int:
        self.calls["add"] += 1
        return a + b

    def takes_function(self, context: RequestContext, function: str) -> str:
        return function

    async def hang(self, context: RequestContext) -> None:
        await asyncio.Event().wait()


async def test_a_reply_too_large_to_send_fails_the_call_once(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport(max_message_size=10_000)
    worker = Worker()
    async with RPCServer(transport, Target(topic=names, server="s"), [worker]):
        client = RPCClient(transport, Target(topic=names), timeout=10)
        with pytest.raises((RemoteError, MessageTooLarge), match=r"MessageTooLarge|over the limit"):
            await client.call(None, "big")
        # the method is named, not the transport's reply queue ("reply to reply_...")
        with pytest.raises(
            (RemoteError, MessageTooLarge), match=r"the result of 'big' is \d+ bytes"
        ):
            await client.call(None, "big")
        await asyncio.sleep(0.3)
        assert worker.calls["big"] == 2  # each answered with the failure, never run again


async def test_odd_but_valid_fields_are_served(open_transport: OpenTransport, names: str) -> None:
    transport = await open_transport()
    worker = Worker()
    async with RPCServer(transport, Target(topic=names, server="s"), [worker]):
        client = RPCClient(transport, Target(topic=names), timeout=10)
        # an argument named like the server's own parameters
        assert await client.call(None, "takes_function", function="f") == "f"
        # _timeout: Infinity (Python's json writes it): served, without heartbeats
        router_client = RPCClient(transport, Target(topic=names), timeout=10)
        assert await router_client.call(None, "add", a=1, b=2) == 3
        request = _wire.request("add", {"a": 2, "b": 2}, {})
        request["_timeout"] = float("inf")
        await transport.send(Target(exchange=f"{names}-x", topic=names), request)
        await eventually(lambda: worker.calls["add"] == 2)


async def test_malformed_fields_are_answered_on_the_wire(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    worker = Worker()
    async with RPCServer(transport, Target(topic=names, server="s"), [worker]):
        router = await ReplyRouter.of(transport)

        async def call(**changes: Any) -> tuple[Any, str | None]:
            msg_id = _wire.new_id()
            request = _wire.request(
                "add", {"a": 1, "b": 2}, {}, msg_id=msg_id, reply_q=router.queue
            )
            request.update(changes)
            pending = _Pending(asyncio.get_running_loop().create_future())
            router.pending[msg_id] = pending
            try:
                await transport.send(Target(exchange=f"{names}-x", topic=names), request)
                return await asyncio.wait_for(pending.future, 10)
            finally:
                del router.pending[msg_id]

        # an integer past any float (no heartbeat interval can be computed): served
        assert await call(_timeout=10**400) == (3, None)
        for field, value in (("_timeout", "30"), ("version", "x"), ("_context_roles", 1)):
            _, failure = await call(**{field: value})
            assert failure is not None
            error = _wire.exception_from_failure(failure, ["anker.messaging"])
            assert isinstance(error, InvalidMessage)
            assert field.removeprefix("_context_") in str(error)
        assert worker.calls["add"] == 1


async def test_an_unreadable_message_does_not_wedge_the_server(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    worker = Worker()
    async with RPCServer(transport, Target(topic=names, server="s"), [worker], prefetch=1):
        deep = {"method": "add", "args": {"a": 1, "b": 1}, "nested": 0}
        nested: Any = 0
        for _ in range(100):
            nested = [nested]
        deep["nested"] = nested
        # deeper than orjson reads: the standard library's fallback takes it or refuses it
        await transport.send(Target(exchange=f"{names}-x", topic=names), deep)
        client = RPCClient(transport, Target(topic=names), timeout=10)
        assert await client.call(None, "add", a=2, b=3) == 5


async def test_notifications_never_carry_the_token(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    seen: list[Incoming] = []
    subscription = await transport.listen_notifications(
        [Target(exchange=f"{names}-x", topic=names)], ["info"], seen.append
    )
    notifier = Notifier(transport, "svc", topics=[names])
    context = RequestContext(user_id="u1", auth_token=Secret("s3cr3t-token-value"))
    await notifier.info(context, "thing.done", {})
    await notifier.info({"user": "u2", "auth_token": "s3cr3t-token-value"}, "thing.done", {})
    await eventually(lambda: len(seen) == 2)
    await subscription.cancel()
    for incoming in seen:
        assert "s3cr3t-token-value" not in orjson.dumps(incoming.message).decode()
        assert incoming.message["_context_user"] in ("u1", "u2")
        await incoming.ack()


async def test_a_notification_priority_not_listened_to_calls_nothing(
    open_transport: OpenTransport, names: str
) -> None:
    transport = await open_transport()
    called: list[str] = []

    class Endpoint:
        async def info(self, *args: Any) -> None:
            called.append("info")

        async def purge_everything(self, *args: Any) -> None:
            called.append("purge")

    async with NotificationListener(transport, [Target(topic=names)], [Endpoint()]):
        forged = _wire.notification("evil", "x", "info", {}, {})
        forged["priority"] = "PURGE_EVERYTHING"
        await transport.notify(Target(topic=names), "info", forged)
        await transport.notify(
            Target(topic=names), "info", _wire.notification("ok", "x", "info", {}, {})
        )
        await eventually(lambda: called == ["info"])
        await asyncio.sleep(0.2)
    assert called == ["info"]


async def test_closing_the_transport_ends_waiting_calls(
    open_transport: OpenTransport, names: str
) -> None:
    server_side, client_side = await open_transport(), await open_transport()
    server = RPCServer(server_side, Target(topic=names, server="s"), [Worker()])
    await server.start()
    try:
        client = RPCClient(client_side, Target(topic=names), timeout=30)
        call = asyncio.create_task(client.call(None, "hang"))
        await asyncio.sleep(0.3)
        await client_side.aclose()
        with pytest.raises(TransportClosed):
            await asyncio.wait_for(call, 5)
    finally:
        await server.stop(deadline=0.5)  # the hanging method is cancelled
