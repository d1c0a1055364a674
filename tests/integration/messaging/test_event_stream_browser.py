"""An EventStream read by a real browser: headless Chromium's EventSource, and its WebSocket,
on a page served beside the stream receive their user's events, and never another project's."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from anker.messaging import (
    EventStream,
    Notifier,
    RequestContext,
    Subscriber,
    SubscriptionRefused,
    connect,
)
from anker.service import ASGIServer
from waiting import eventually

pytestmark = pytest.mark.integration

#: the dashboard: shows each event it is sent, and closes its stream after two
PAGE = b"""<!doctype html>
<html><body><ul id="events"></ul><script>
const seen = document.getElementById("events");
const source = new EventSource("/events?token=token-a");
function show(event) {
  const item = document.createElement("li");
  item.textContent = event.type + " " + JSON.stringify(JSON.parse(event.data).payload);
  seen.appendChild(item);
  if (seen.children.length >= 2) { source.close(); document.title = "done"; }
}
for (const type of ["compute.instance.create.end", "compute.instance.delete.end"]) {
  source.addEventListener(type, show);
}
</script></body></html>"""


#: the same dashboard over a WebSocket: one JSON message per event. With --dump-dom,
#: Chromium's virtual time runs on while no request is pending, and an open WebSocket is
#: not one (an EventSource is), so the DOM could be dumped before the events arrive; and
#: while a request is pending, the page is not given what its socket receives. So the page
#: keeps /hold pending, which the test answers once the stream has sent the events
SOCKET_PAGE = b"""<!doctype html>
<html><body><ul id="events"></ul><script>
fetch("/hold");
const seen = document.getElementById("events");
const socket = new WebSocket("ws://" + location.host + "/events?token=token-a");
socket.onmessage = (message) => {
  const event = JSON.parse(message.data);
  const item = document.createElement("li");
  item.textContent = event.event + " " + JSON.stringify(event.data.payload);
  seen.appendChild(item);
  if (seen.children.length >= 2) { socket.close(); document.title = "done"; }
};
</script></body></html>"""


async def authorize(subscriber: Subscriber) -> str:
    # a browser's EventSource cannot set headers: the token comes in the query (or a cookie)
    projects = {"token-a": "project-a", "token-b": "project-b"}
    token = subscriber.query.get("token", "")
    if token not in projects:
        raise SubscriptionRefused("unknown token")
    return projects[token]


@pytest.mark.parametrize("page", [PAGE, SOCKET_PAGE], ids=["event-source", "websocket"])
async def test_a_browser_dashboard_gets_its_projects_events(tmp_path: Path, page: bytes) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian's chromium; scripts/services installs it)")
    async with await connect(f"memory://browser-{uuid.uuid4().hex[:8]}") as transport:
        stream = EventStream(transport, authorize)
        done = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["path"].startswith("/events"):
                await stream(scope, receive, send)
                return
            if scope["type"] != "http":
                return
            if scope["path"] == "/hold":  # answered once the stream sent the page its events
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 60)
            found = scope["path"] in ("/", "/hold")
            await send(
                {
                    "type": "http.response.start",
                    "status": 200 if found else 404,
                    "headers": [(b"content-type", b"text/html" if found else b"text/plain")],
                }
            )
            await send({"type": "http.response.body", "body": page if found else b""})

        server = ASGIServer(app, port=0, name="dashboard")
        async with stream:
            await server.start()
            try:
                browser = await asyncio.create_subprocess_exec(
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}",
                    "--virtual-time-budget=30000",
                    "--dump-dom",
                    f"http://127.0.0.1:{server.port}/",
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                await eventually(lambda: bool(stream._subscribers), timeout=60)
                notifier = Notifier(transport, "compute.host1")
                theirs = RequestContext(project_id="project-b")
                mine = RequestContext(project_id="project-a")
                await notifier.info(theirs, "compute.instance.create.end", {"id": "theirs"})
                await notifier.info(mine, "compute.instance.create.end", {"id": 1})
                await notifier.info(mine, "compute.instance.delete.end", {"id": 1})
                # every event handed to the sockets (the page's /hold is answered then)
                await eventually(lambda: stream._seq == 3)
                await eventually(lambda: all(s.queue.empty() for s in stream._subscribers))
                await asyncio.sleep(0.2)
                done.set()
                dom, _ = await asyncio.wait_for(browser.communicate(), 120)
            finally:
                await server.drain(1)
                await server.stop()
    shown = dom.decode()
    assert "<title>done</title>" in shown, shown
    assert '<li>compute.instance.create.end {"id":1}</li>' in shown
    assert '<li>compute.instance.delete.end {"id":1}</li>' in shown
    assert "theirs" not in shown.split("<script>")[0]
