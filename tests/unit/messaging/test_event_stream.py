"""anker.messaging.EventStream: notifications to users over Server-Sent Events, each user
receiving only the events of their own project; resume with Last-Event-ID; filters."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from event_support import authorize

from anker.messaging import (
    EventStream,
    Notifier,
    RequestContext,
    Transport,
    connect,
)
from anker.service import ASGIServer
from waiting import eventually


class Events:
    """One SSE connection read event by event."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        event: dict[str, Any] = {}
        async with asyncio.timeout(timeout):
            async for line in self.lines:
                if not line:
                    if "event" in event:
                        return event
                    event = {}
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(": ")
                event[field] = json.loads(value) if field == "data" else value
        raise AssertionError("the stream ended")


@pytest.fixture
async def served() -> AsyncIterator[tuple[Transport, EventStream, str]]:
    async with await connect(f"memory://events-{uuid.uuid4().hex[:8]}") as transport:
        stream = EventStream(transport, authorize, replay=5, keepalive=0.2)
        server = ASGIServer(stream, port=0, name="events")
        async with stream:
            await server.start()
            try:
                yield transport, stream, f"http://127.0.0.1:{server.port}"
            finally:
                await server.drain(1)
                await server.stop()


async def test_each_user_gets_only_their_projects_events(
    served: tuple[Transport, EventStream, str],
) -> None:
    transport, stream, url = served
    notifier = Notifier(transport, "compute.host1")
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("GET", "/", headers={"x-auth-token": "token-a"}) as a,
        client.stream("GET", "/?token=token-b") as b,
    ):
        assert a.status_code == 200
        assert a.headers["content-type"].startswith("text/event-stream")
        await eventually(lambda: len(stream._subscribers) == 2)
        context_a = RequestContext(project_id="project-a")
        await notifier.info(context_a, "compute.instance.create.end", {"id": 1})
        await notifier.info(None, "volume.create.end", {"id": 2, "project_id": "project-b"})
        await notifier.info(None, "orphan.event", {"id": 3})  # no project: nobody
        await notifier.error(RequestContext(project_id="project-b"), "compute.instance.fault", {})
        events_a, events_b = Events(a), Events(b)
        first_a = await events_a.next()
        assert first_a["event"] == "compute.instance.create.end"
        assert first_a["data"]["payload"] == {"id": 1}
        assert first_a["data"]["publisher_id"] == "compute.host1"
        assert first_a["data"]["priority"] == "INFO"
        assert [(await events_b.next())["event"] for _ in range(2)] == [
            "volume.create.end",
            "compute.instance.fault",
        ]
        await notifier.info(context_a, "compute.instance.delete.end", {"id": 4})
        # the next event user A sees is its own, never B's
        assert (await events_a.next())["event"] == "compute.instance.delete.end"


async def test_filters_and_resuming_from_the_last_event_id(
    served: tuple[Transport, EventStream, str],
) -> None:
    transport, stream, url = served
    notifier = Notifier(transport, "compute.host1")
    context = RequestContext(project_id="project-a")
    headers = {"x-auth-token": "token-a"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async with client.stream("GET", "/?types=compute.instance.*", headers=headers) as first:
            await eventually(lambda: len(stream._subscribers) == 1)
            await notifier.info(context, "volume.create.end", {"n": 0})
            await notifier.info(context, "compute.instance.create.end", {"n": 1})
            seen = await Events(first).next()
            assert seen["data"]["payload"] == {"n": 1}  # the volume event was filtered out
        await eventually(lambda: not stream._subscribers)
        for n in (2, 3):  # while the client is away
            await notifier.info(context, f"compute.instance.step{n}", {"n": n})
        await eventually(lambda: stream._seq == 4)
        resumed = {**headers, "last-event-id": seen["id"]}
        async with client.stream("GET", "/?types=compute.instance.*", headers=resumed) as again:
            events = Events(again)
            assert [(await events.next())["data"]["payload"]["n"] for _ in range(2)] == [2, 3]
        for n in range(4, 12):  # more than the replay buffer of 5 holds
            await notifier.info(context, "compute.instance.more", {"n": n})
        await eventually(lambda: stream._seq == 12)
        async with client.stream("GET", "/", headers=resumed) as late:
            gap = await Events(late).next()
            assert gap["event"] == "gap"
            assert "older than the replay buffer" in gap["data"]["reason"]
        stranger = {**headers, "last-event-id": "ffffffff-3"}
        async with client.stream("GET", "/", headers=stranger) as other:
            assert (await Events(other).next())["event"] == "gap"


@pytest.mark.parametrize(
    ("headers", "path", "status"),
    [
        ({}, "/", 401),
        ({"x-auth-token": "nope"}, "/", 401),
        ({"x-auth-token": "broken"}, "/", 503),
        ({"x-auth-token": "token-a"}, "/?types=" + ",".join(["a"] * 33), 400),
    ],
)
async def test_refusals_say_why_and_send_no_event(
    served: tuple[Transport, EventStream, str], headers: dict[str, str], path: str, status: int
) -> None:
    _, _, url = served
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        answer = await client.get(path, headers=headers)
    assert answer.status_code == status
    assert "event:" not in answer.text
    assert "keystone is down" not in answer.text  # the authorizer's error stays in the log
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert (await client.post("/", headers={"x-auth-token": "token-a"})).status_code == 405


async def test_a_client_that_falls_behind_is_ended_and_resumes_without_a_loss() -> None:
    async with await connect(f"memory://behind-{uuid.uuid4().hex[:8]}") as transport:
        stream = EventStream(transport, authorize, replay=5, queue=3)
        server = ASGIServer(stream, port=0, name="events")
        async with stream, httpx.AsyncClient(timeout=30) as client:
            await server.start()
            url = f"http://127.0.0.1:{server.port}/?token=token-a"
            try:
                async with client.stream("GET", url) as behind:
                    await eventually(lambda: len(stream._subscribers) == 1)
                    context = RequestContext(project_id="project-a")
                    for n in range(5):  # a burst in one turn of the loop, past its queue of 3
                        step = stream._receive(
                            "INFO", (context, "host", "compute.burst", {"n": n}, {})
                        )
                        with pytest.raises(StopIteration):
                            step.send(None)
                    # the stream ends at once: nothing queued after the overflow is sent
                    assert "event:" not in (await behind.aread()).decode()
                resumed = {"last-event-id": f"{stream.token}-0"}
                async with client.stream("GET", url, headers=resumed) as again:
                    events = Events(again)
                    got = [(await events.next())["data"]["payload"]["n"] for _ in range(5)]
                assert got == [0, 1, 2, 3, 4]
            finally:
                await server.drain(1)
                await server.stop()
