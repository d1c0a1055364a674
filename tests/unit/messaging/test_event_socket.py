"""anker.messaging.EventStream over a WebSocket: the same events as its Server-Sent Events,
as JSON text messages, each user receiving only their own project's; resume, filters,
refusals with their HTTP status, and the close codes that tell a client to reconnect."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from event_support import authorize
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from anker.messaging import (
    EventStream,
    Notifier,
    RequestContext,
    Transport,
    connect,
)
from anker.service import ASGIServer
from waiting import eventually


@pytest.fixture
async def served() -> AsyncIterator[tuple[Transport, EventStream, ASGIServer]]:
    async with await connect(f"memory://sockets-{uuid.uuid4().hex[:8]}") as transport:
        stream = EventStream(transport, authorize, replay=5, queue=3)
        server = ASGIServer(stream, port=0, name="events")
        async with stream:
            await server.start()
            try:
                yield transport, stream, server
            finally:
                await server.drain(1)
                await server.stop()


async def received(socket: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        message = await socket.recv()
    assert isinstance(message, str)  # text messages, one JSON object each
    found: dict[str, Any] = json.loads(message)
    return found


async def test_each_user_gets_only_their_projects_events(
    served: tuple[Transport, EventStream, ASGIServer],
) -> None:
    transport, stream, server = served
    base = f"ws://127.0.0.1:{server.port}/"
    notifier = Notifier(transport, "compute.host1")
    async with (
        ws_connect(base, additional_headers={"x-auth-token": "token-a"}) as a,
        ws_connect(base + "?token=token-b") as b,  # a browser's WebSocket: the query
    ):
        await eventually(lambda: len(stream._subscribers) == 2)
        assert stream.in_flight() == ["2 event stream(s) open"]
        context_a = RequestContext(project_id="project-a")
        await notifier.info(context_a, "compute.instance.create.end", {"id": 1})
        await notifier.info(None, "volume.create.end", {"id": 2, "project_id": "project-b"})
        await notifier.info(None, "orphan.event", {"id": 3})  # no project: nobody
        first_a = await received(a)
        assert set(first_a) == {"id", "event", "data"}
        assert first_a["id"] == f"{stream.token}-1"
        assert first_a["event"] == "compute.instance.create.end"
        assert first_a["data"]["payload"] == {"id": 1}
        assert first_a["data"]["priority"] == "INFO"
        assert first_a["data"]["publisher_id"] == "compute.host1"
        assert (await received(b))["event"] == "volume.create.end"
        await notifier.info(context_a, "compute.instance.delete.end", {"id": 4})
        # the next message user A gets is its own, never B's
        assert (await received(a))["event"] == "compute.instance.delete.end"
        await a.send("anything: what a client sends is ignored")
        await notifier.info(context_a, "compute.instance.reboot.end", {"id": 5})
        assert (await received(a))["data"]["payload"] == {"id": 5}
    await eventually(lambda: not stream._subscribers)


async def test_filters_and_resuming_from_the_last_event_id(
    served: tuple[Transport, EventStream, ASGIServer],
) -> None:
    transport, stream, server = served
    base = f"ws://127.0.0.1:{server.port}/?token=token-a&types=compute.instance.*"
    notifier = Notifier(transport, "compute.host1")
    context = RequestContext(project_id="project-a")
    async with ws_connect(base) as first:
        await eventually(lambda: len(stream._subscribers) == 1)
        await notifier.info(context, "volume.create.end", {"n": 0})
        await notifier.info(context, "compute.instance.create.end", {"n": 1})
        seen = await received(first)
        assert seen["data"]["payload"] == {"n": 1}  # the volume event was filtered out
    await eventually(lambda: not stream._subscribers)
    for n in (2, 3):  # while the client is away
        await notifier.info(context, f"compute.instance.step{n}", {"n": n})
    await eventually(lambda: stream._seq == 4)
    async with ws_connect(f"{base}&last_event_id={seen['id']}") as again:
        assert [(await received(again))["data"]["payload"]["n"] for _ in range(2)] == [2, 3]
        await notifier.info(context, "compute.instance.live", {"n": 4})
        assert (await received(again))["data"]["payload"] == {"n": 4}  # then live, in order
    for n in range(5, 12):  # more than the replay buffer of 5 holds
        await notifier.info(context, "compute.instance.more", {"n": n})
    await eventually(lambda: stream._seq == 12)
    resumed = {"last-event-id": seen["id"]}  # a client that can set headers may
    async with ws_connect(base, additional_headers=resumed) as late:
        gap = await received(late)
        assert gap["event"] == "gap"
        assert "older than the replay buffer" in gap["data"]["reason"]
    async with ws_connect(f"{base}&last_event_id=ffffffff-3") as other:
        assert (await received(other))["event"] == "gap"


@pytest.mark.parametrize(
    ("query", "status", "text"),
    [
        ("", 401, "unknown token"),
        ("?token=nope", 401, "unknown token"),
        ("?token=nobody", 403, "not allowed to watch"),
        ("?token=broken", 503, "authorization failed"),
        ("?token=token-a&types=" + ",".join(["a"] * 33), 400, "at most 32 patterns"),
    ],
)
async def test_a_refused_handshake_gets_the_refusals_status_and_no_event(
    served: tuple[Transport, EventStream, ASGIServer], query: str, status: int, text: str
) -> None:
    _, stream, server = served
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/{query}"):
            pass
    response = refused.value.response
    assert response.status_code == status
    assert text in response.body.decode()
    assert "keystone is down" not in response.body.decode()  # the authorizer's error is logged
    assert not stream._subscribers


async def test_a_draining_stream_closes_its_sockets_with_service_restart(
    served: tuple[Transport, EventStream, ASGIServer],
) -> None:
    _, stream, server = served
    async with ws_connect(f"ws://127.0.0.1:{server.port}/?token=token-a") as socket:
        await eventually(lambda: len(stream._subscribers) == 1)
        await stream.drain(1)
        with pytest.raises(ConnectionClosed) as closed:
            await received(socket)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1012
    assert "reconnect" in closed.value.rcvd.reason
    # and while it stops, a new client is told to come back later (another instance)
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/?token=token-a"):
            pass
    assert refused.value.response.status_code == 503


async def test_a_client_that_falls_behind_is_closed_and_resumes_where_it_was(
    served: tuple[Transport, EventStream, ASGIServer],
) -> None:
    _, stream, server = served
    base = f"ws://127.0.0.1:{server.port}/?token=token-a"
    async with ws_connect(base) as socket:
        await eventually(lambda: len(stream._subscribers) == 1)
        context = RequestContext(project_id="project-a")
        # a burst the stream takes in one go, past the client's queue of 3 (no loop turn
        # between them, as when notifications come faster than the client reads)
        await _burst(stream, context, 5)
        got: list[dict[str, Any]] = []
        closed: ConnectionClosed | None = None
        while closed is None:
            try:
                got.append(await received(socket))
            except ConnectionClosed as ended:
                closed = ended
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1013
    assert "fell too far behind" in closed.rcvd.reason
    # what was queued for it was dropped, so nothing after its last event reached it: it
    # resumes from that event's id (or from the start, if it got none) and misses nothing
    last = got[-1]["id"] if got else f"{stream.token}-0"
    async with ws_connect(f"{base}&last_event_id={last}") as again:
        rest = [(await received(again))["data"]["payload"]["n"] for _ in range(5 - len(got))]
    assert [m["data"]["payload"]["n"] for m in got] + rest == [0, 1, 2, 3, 4]


async def _burst(stream: EventStream, context: RequestContext, count: int) -> None:
    """``count`` notifications into ``stream`` with no turn of the event loop between them."""
    steps = [
        stream._receive(
            "INFO", (context, "compute.host1", "compute.burst", {"n": n}, {"message_id": str(n)})
        )
        for n in range(count)
    ]
    for step in steps:
        with pytest.raises(StopIteration):
            step.send(None)  # _receive never suspends: each runs to its end here
