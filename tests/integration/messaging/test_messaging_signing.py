"""Signed messages on every transport: what a holder of the key sends is served; a forged,
tampered or replayed message put on the broker by someone else is refused before dispatch,
and the queue goes on."""

from __future__ import annotations

import os
from typing import Any

from anker.messaging import (
    NotificationListener,
    Notifier,
    RequestContext,
    RPCClient,
    RPCServer,
    Signing,
    Target,
)
from anker.messaging._signing import request_route
from messaging_support import OpenTransport
from waiting import eventually

KEY = os.urandom(32)


class Counter:
    def __init__(self) -> None:
        self.values: list[Any] = []

    async def record(self, context: RequestContext, value: Any) -> Any:
        self.values.append(value)
        return value


async def test_signed_messages_are_served_and_forged_ones_refused(
    open_transport: OpenTransport, names: str, refused: list[str]
) -> None:
    signing = Signing({"k1": KEY})
    transport = await open_transport(signing=signing)
    intruder = await open_transport()  # on the broker, without the key
    counter = Counter()
    notes: list[Any] = []

    class Sink:
        async def info(self, *args: Any) -> None:
            notes.append(args[3])

    target = Target(topic=names)
    async with (
        RPCServer(transport, Target(topic=names, server="s1"), [counter]),
        NotificationListener(transport, [Target(topic=f"{names}-n")], [Sink()]),
    ):
        client = RPCClient(transport, target, timeout=30)
        assert await client.call(None, "record", value="signed") == "signed"
        await Notifier(transport, "svc", topics=[f"{names}-n"]).info(None, "a.b", {"n": 1})
        await eventually(lambda: notes == [{"n": 1}])

        route = request_route(transport.exchange_of(target), names, None, False)
        genuine = signing.sign({"method": "record", "args": {"value": "cast"}}, route)
        tampered = {**genuine, "args": {"value": "changed"}}
        await intruder.send(target, {"method": "record", "args": {"value": "unsigned"}})
        await intruder.send(target, tampered)
        await intruder.send(target, genuine)  # the real thing, once...
        await intruder.send(target, genuine)  # ...and again: a replay
        await eventually(lambda: len(refused) == 3, what=f"refusals: {refused}")
        assert await client.call(None, "record", value="after") == "after"  # not blocked
    assert counter.values == ["signed", "cast", "after"]
    assert sorted(refused) == ["replayed", "tampered", "unsigned"]
