"""Concurrency limits: at most N operations at once per key, on coordination semaphores."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anker.coordination import Coordinator
from anker.limits import ConcurrencyLimit, ConcurrencyLimitReached
from servers import require_server
from waiting import eventually

CHILD = Path(__file__).with_name("concurrency_child.py")
BACKENDS = ("sqlite", pytest.param("redis", marks=pytest.mark.integration))


@pytest.fixture(params=BACKENDS)
def coordination_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/coordination.db"
    return f"{require_server('redis')}?prefix=c{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def coordinator(coordination_url: str) -> AsyncIterator[Coordinator]:
    async with await Coordinator.connect(coordination_url, lease=1.0) as opened:
        yield opened


async def test_at_most_n_at_once_and_the_rest_refused_or_waiting(
    coordinator: Coordinator,
) -> None:
    builds = ConcurrencyLimit(coordinator, "builds", limit=2, limits={"big": 3})
    running = 0
    peak = 0
    release = asyncio.Event()
    two_in = asyncio.Event()

    async def build() -> None:
        nonlocal running, peak
        async with builds.slot("project-a", timeout=30):
            running += 1
            peak = max(peak, running)
            if running == 2:
                two_in.set()
            await release.wait()
            running -= 1

    tasks = [asyncio.create_task(build()) for _ in range(5)]
    await two_in.wait()
    assert await builds.holders("project-a") == 2
    with pytest.raises(ConcurrencyLimitReached) as refused:
        async with builds.slot("project-a", wait=False):
            pytest.fail("a third slot was granted")
    assert (refused.value.key, refused.value.limit) == ("builds.project-a", 2)
    with pytest.raises(ConcurrencyLimitReached, match=r"waited 0\.1 s"):
        async with builds.slot("project-a", timeout=0.1):
            pytest.fail("a third slot was granted")
    async with builds.slot("project-b", wait=False):  # another key has slots of its own
        pass
    assert builds.limit_of("big") == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2
    assert await builds.holders("project-a") == 0


async def test_a_killed_holder_frees_its_slot_after_the_lease(
    coordinator: Coordinator, coordination_url: str
) -> None:
    uploads = ConcurrencyLimit(coordinator, "uploads", limit=1)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        coordination_url,
        "uploads",
        "host-1",
        "1",
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    assert (await child.stdout.readline()).strip() == b"held"
    with pytest.raises(ConcurrencyLimitReached):
        async with uploads.slot("host-1", wait=False):
            pytest.fail("the child's slot was granted twice")
    child.send_signal(signal.SIGKILL)
    await child.wait()
    async with uploads.slot("host-1", timeout=30):
        assert await uploads.holders("host-1") == 1

    async def free() -> bool:
        return await uploads.holders("host-1") == 0

    await eventually(free, what="the slot is free again")


def test_limits_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="concurrency limit of 'builds'"):
        ConcurrencyLimit(None, "builds", limit=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="for 'p'"):
        ConcurrencyLimit(None, "builds", limit=1, limits={"p": -1})  # type: ignore[arg-type]
