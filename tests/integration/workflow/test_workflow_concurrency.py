"""Concurrency limits per workflow: at most N runs of a workflow at once, across every engine
sharing the coordination backend (anker.limits.ConcurrencyLimit, keyed by workflow name);
other workflows are not held up, and the runs waiting for a slot stay PENDING."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anker.coordination import Coordinator, InvalidName
from anker.limits import ConcurrencyLimit
from anker.workflow import Engine, State, Task, TaskContext, Workflow
from waiting import eventually


class Gate:
    """Tasks that wait at a gate, counting how many are inside at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.peak = 0
        self.open = asyncio.Event()

    async def execute(self, ctx: TaskContext) -> str:
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            await self.open.wait()
        finally:
            self.inside -= 1
        return ctx.key


async def quick(ctx: TaskContext) -> int:
    return 1


@pytest.fixture
async def coordinators(tmp_path: Path) -> AsyncIterator[list[Coordinator]]:
    """Two coordinators (two sessions, as two processes have) on one SQLite backend."""
    url = f"sqlite://{tmp_path}/coordination.db"
    async with (
        await Coordinator.connect(url, lease=2.0) as first,
        await Coordinator.connect(url, lease=2.0) as second,
    ):
        yield [first, second]


async def test_at_most_n_runs_of_a_workflow_at_once_others_unhindered(
    store_url: str, coordinators: list[Coordinator]
) -> None:
    gate = Gate()
    slow = Workflow("slow", Task("wait", gate.execute))
    fast = Workflow("fast", Task("quick", quick))
    limit = ConcurrencyLimit(coordinators[0], "workflows", limit=10, limits={"slow": 2})
    async with await Engine.open(
        store_url, [slow, fast], upgrade=True, concurrency=limit, poll=0.05
    ) as engine:
        slow_ids = [await engine.start(slow) for _ in range(5)]
        await eventually(lambda: gate.inside == 2, timeout=30, what="two slow runs inside")
        # the others wait PENDING, while runs of another workflow go through
        assert (await engine.run(fast)).state is State.SUCCEEDED
        states = [(await engine.get(run_id)).state for run_id in slow_ids]
        assert sorted(states, key=str) == sorted([State.RUNNING] * 2 + [State.PENDING] * 3, key=str)
        assert await limit.holders("slow") == 2
        gate.open.set()
        for run_id in slow_ids:
            assert (await engine.wait(run_id, timeout=60)).state is State.SUCCEEDED
    assert gate.peak == 2
    assert await limit.holders("slow") == 0


async def test_the_limit_holds_across_engines(
    store_url: str, coordinators: list[Coordinator]
) -> None:
    gate = Gate()
    slow = Workflow("slow", Task("wait", gate.execute))
    limits = [ConcurrencyLimit(c, "workflows", limit=1, limits={"slow": 3}) for c in coordinators]
    async with (
        await Engine.open(store_url, [slow], upgrade=True, recover=False) as submitter,
        await Engine.open(store_url, [slow], concurrency=limits[0], poll=0.05, max_runs=3) as a,
        await Engine.open(store_url, [slow], concurrency=limits[1], poll=0.05, max_runs=3) as b,
    ):
        ids = [await submitter.submit(slow) for _ in range(6)]
        await eventually(lambda: gate.inside == 3, timeout=30, what="three runs inside")
        await asyncio.sleep(0.3)  # time enough for a fourth to get in, if one could
        assert gate.inside == 3
        owners = {(await submitter.get(run_id)).owner for run_id in ids}
        assert owners == {a.id, b.id}  # both engines hold runs: the limit is shared
        gate.open.set()
        for run_id in ids:
            assert (await submitter.wait(run_id, timeout=60)).state is State.SUCCEEDED
    assert gate.peak == 3


async def test_a_workflow_name_coordination_refuses_fails_at_once(
    tmp_path: Path, coordinators: list[Coordinator]
) -> None:
    long = Workflow("w" * 150, Task("quick", quick))  # a workflow name, too long a semaphore's
    limit = ConcurrencyLimit(coordinators[0], "workflows", limit=1)
    with pytest.raises(InvalidName, match="160 characters long"):
        await Engine.open(f"sqlite://{tmp_path}/wf.db", [long], upgrade=True, concurrency=limit)
