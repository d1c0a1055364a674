"""At least once for requests: a server SIGKILLed mid-call leaves the call to another server.

anker acknowledges a request after the method ran and replied, so the broker hands the
request of a killed server to the next one (oslo.messaging acknowledges first, and the call
is lost: the caller waits out its timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from anker.messaging import RequestContext, RPCClient, RPCServer, Target, connect

pytestmark = pytest.mark.integration

CHILD = Path(__file__).with_name("messaging_child.py")


class Finisher:
    def __init__(self) -> None:
        self.jobs: list[str] = []

    async def work(self, context: RequestContext, job: str) -> str:
        self.jobs.append(job)
        return f"done {job}"


async def said(process: asyncio.subprocess.Process, timeout: float = 30) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout)
    assert line, "the child exited without a word"
    event: dict[str, Any] = json.loads(line)
    return event


async def test_a_call_whose_server_is_killed_is_served_by_another(rabbit_url: str) -> None:
    topic = f"takeover{uuid.uuid4().hex[:10]}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), rabbit_url, topic, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert (await said(process))["event"] == "ready"
        async with await connect(rabbit_url) as transport:
            client = RPCClient(transport, Target(topic=topic), timeout=30)
            call = asyncio.create_task(client.call(None, "work", job="j1"))
            assert (await said(process)) == {"event": "working", "job": "j1"}
            finisher = Finisher()
            # the survivor starts only now, so the request surely went to the child first
            async with RPCServer(transport, Target(topic=topic, server="survivor"), [finisher]):
                os.kill(process.pid, signal.SIGKILL)
                await process.wait()
                assert await asyncio.wait_for(call, 20) == "done j1"
            assert finisher.jobs == ["j1"]
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
