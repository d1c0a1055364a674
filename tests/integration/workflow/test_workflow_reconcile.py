"""Reconciliation: expected against observed state, repaired by a workflow, level-triggered
and idempotent (checks repeated while a repair runs start no second repair)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from click.testing import CliRunner

from anker.cli import cli
from anker.workflow import Engine, Reconciler, State, Task, TaskContext, Workflow
from waiting import eventually


async def test_drift_starts_one_repair_until_it_ends_and_none_once_repaired(
    store_url: str,
) -> None:
    world: dict[str, Any] = {"vm-1": {"state": "ACTIVE"}, "vm-2": {"state": "ERROR"}}
    release = asyncio.Event()

    async def fix(ctx: TaskContext, resource: str, expected: Any, observed: Any) -> None:
        await release.wait()
        world[resource] = expected

    repair = Workflow(
        "repair",
        Task("fix", fix, requires=("resource", "expected", "observed")),
        inputs=("resource", "expected", "observed"),
    )

    async def observe(resource: str, expected: Any) -> Any:
        return world.get(resource)

    async with await Engine.open(store_url, [repair], upgrade=True, poll=0.05) as engine:
        reconciler = Reconciler(engine, repair, observe)
        await reconciler.expect("vm-1", {"state": "ACTIVE"})
        await reconciler.expect("vm-2", {"state": "ACTIVE"})
        (drift,) = await reconciler.check()
        assert drift.resource == "vm-2"
        assert drift.observed == {"state": "ERROR"}
        assert drift.repair_run is not None
        again = await reconciler.check()  # a repeated check: the same repair, no new run
        assert [d.repair_run for d in again] == [drift.repair_run]

        command = ["workflow", "--url", store_url, "drift", "--format", "json"]
        result = await asyncio.to_thread(CliRunner().invoke, cli, command)
        assert result.exit_code == 0, result.output
        listed = json.loads(result.output)
        assert [(r["resource"], r["repair_run"]) for r in listed] == [("vm-2", drift.repair_run)]
        assert listed[0]["repair_state"] in ("PENDING", "RUNNING")
        command = ["workflow", "--url", store_url, "drift", "--all"]
        table = (await asyncio.to_thread(CliRunner().invoke, cli, command)).output.splitlines()
        assert table[0].split()[:2] == ["resource", "drifted"]  # which of them drifted
        assert [line.split()[:2] for line in table[1:]] == [["vm-1", "False"], ["vm-2", "True"]]

        release.set()
        assert (await engine.wait(drift.repair_run, timeout=60)).state is State.SUCCEEDED
        assert await reconciler.check() == []
        assert len(await engine.store.runs()) == 1  # one repair run in all

        world["vm-1"] = {"state": "SHUTOFF"}  # drifts again later: a new repair
        (later,) = await reconciler.check()
        assert later.resource == "vm-1"
        assert later.repair_run != drift.repair_run
        assert (await engine.wait(later.repair_run, timeout=60)).state is State.SUCCEEDED
        await reconciler.expect("vm-1", None)
        assert [e.resource for e in await engine.store.expectations()] == ["vm-2"]


async def test_a_periodic_reconciler_repairs_without_being_asked(store_url: str) -> None:
    world = {"db": "down"}

    async def fix(ctx: TaskContext, resource: str, expected: Any, observed: Any) -> None:
        world[resource] = expected

    repair = Workflow(
        "repair",
        Task("fix", fix, requires=("resource", "expected", "observed")),
        inputs=("resource", "expected", "observed"),
    )

    async def observe(resource: str, expected: Any) -> Any:
        return world[resource]

    engine = await Engine.open(store_url, [repair], upgrade=True, poll=0.05)
    async with engine, Reconciler(engine, repair, observe, interval=0.05) as reconciler:
        await reconciler.expect("db", "up")
        await eventually(lambda: world["db"] == "up", timeout=60, what="the repair")
