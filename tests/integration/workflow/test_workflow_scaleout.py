"""Scale-out: several engines share one store; each run is claimed by one engine at a time, a
dead engine's runs are taken over after its lease, and an engine that lost its lease (paused
past it) cannot commit: every write is fenced by the claim's generation."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from workflow_child import STEPS, crash_workflow

from anker.workflow import Engine, LeaseLost, State
from anker.workflow.stores import Change
from waiting import eventually

CHILD = str(Path(__file__).with_name("workflow_child.py"))


def serve(url: str, log: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, CHILD, url, str(log), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def entries(log: Path) -> list[tuple[str, str, int]]:
    lines = log.read_text().split("\n") if log.exists() else []
    return [(t, k, int(p)) for t, k, p in (line.split() for line in lines if line)]


async def test_a_claim_fences_out_the_engine_whose_lease_ran_out(
    store_url: str, tmp_path: Path
) -> None:
    workflow = crash_workflow(str(tmp_path / "log"))
    async with await Engine.open(store_url, [workflow], upgrade=True, recover=False) as engine:
        store = engine.store
        run_id = await engine.submit(workflow)
        ((claimed, first),) = await store.claim("engine-a", ["crash"], 0.3, 10)
        assert claimed == run_id
        assert await store.claim("engine-b", ["crash"], 0.3, 10) == []  # held: not taken
        await eventually(
            lambda: _claim_once(store, "engine-b"), timeout=30, what="the lease to run out"
        )
        info = await store.get(run_id)
        assert info.owner == "engine-b"
        assert info.generation == first + 1
        before = await store.history(run_id)
        change = Change(task="s0", old=State.PENDING, new=State.RUNNING, attempts=1)
        with pytest.raises(LeaseLost):
            await store.write(run_id, first, [change])  # the old claim commits nothing
        assert await store.history(run_id) == before
        assert (await store.get(run_id)).tasks["s0"].state is State.PENDING
        await store.write(run_id, info.generation, [change])  # the current claim does
        assert (await store.get(run_id)).tasks["s0"].state is State.RUNNING


async def _claim_once(store: object, owner: str) -> bool:
    return bool(await store.claim(owner, ["crash"], 30.0, 10))  # type: ignore[attr-defined]


@pytest.mark.integration
async def test_engines_share_the_runs_and_take_over_a_killed_engine_s(
    postgres_store: str, tmp_path: Path
) -> None:
    log = tmp_path / "tasks.log"
    workflow = crash_workflow(str(log))
    async with await Engine.open(postgres_store, [workflow], upgrade=True, recover=False) as engine:
        ids = [await engine.submit(workflow) for _ in range(60)]
    engines = [
        serve(postgres_store, log, TASK_SLEEP="0.2", LEASE="2", MAX_RUNS="4") for _ in range(3)
    ]
    try:
        await eventually(
            lambda: len({p for _, _, p in entries(log)}) == 3,
            timeout=60,
            what="every engine running tasks",
        )
        victim = engines[0]
        victim.kill()
        await asyncio.to_thread(victim.communicate, timeout=30)
        for other in engines[1:]:
            _, err = await asyncio.to_thread(other.communicate, timeout=120)
            assert other.returncode == 0, err
    finally:
        for process in engines:
            if process.poll() is None:
                process.kill()
                process.communicate()
    async with await Engine.open(postgres_store, [], recover=False) as engine:
        runs = {run.id: run for run in await engine.store.runs(limit=1000)}
        assert set(runs) == set(ids)
        assert {run.state for run in runs.values()} == {State.SUCCEEDED}
        done = entries(log)
        for run_id in ids:
            counts = Counter(t for t, k, _ in done if k.startswith(f"{run_id}:"))
            assert len(counts) == STEPS
            assert sum(counts.values()) <= STEPS + 1, counts  # only an in-flight task again
            history = await engine.store.history(run_id)
            ended = [h for h in history if h.task is None and h.new is State.SUCCEEDED]
            assert len(ended) == 1  # completed exactly once
    taken_over = [
        run_id
        for run_id in ids
        if len({p for _, k, p in done if k.startswith(f"{run_id}:")} - {victim.pid}) == 1
        and any(p == victim.pid for _, k, p in done if k.startswith(f"{run_id}:"))
    ]
    assert taken_over  # the killed engine's runs were finished by the others


@pytest.mark.integration
async def test_a_paused_engine_that_lost_its_lease_commits_nothing(
    postgres_store: str, tmp_path: Path
) -> None:
    log = tmp_path / "tasks.log"
    workflow = crash_workflow(str(log))
    async with await Engine.open(postgres_store, [workflow], upgrade=True, recover=False) as engine:
        run_id = await engine.submit(workflow)
    paused = serve(postgres_store, log, TASK_SLEEP="10", LEASE="1", LINGER="3")
    try:
        await eventually(lambda: len(entries(log)) == 1, timeout=60, what="s0 started")
        paused.send_signal(signal.SIGSTOP)
        taker = serve(postgres_store, log, LEASE="1")
        _, err = await asyncio.to_thread(taker.communicate, timeout=120)
        assert taker.returncode == 0, err
        paused.send_signal(signal.SIGCONT)
        _, paused_err = await asyncio.to_thread(paused.communicate, timeout=120)
    finally:
        if paused.poll() is None:
            paused.send_signal(signal.SIGCONT)
            paused.kill()
            paused.communicate()
    assert "lease lost" in paused_err or "taken over by another engine" in paused_err
    async with await Engine.open(postgres_store, [], recover=False) as engine:
        info = await engine.get(run_id)
        history = await engine.store.history(run_id)
    assert info.state is State.SUCCEEDED
    assert info.generation == 2
    s0 = [(h.old, h.new) for h in history if h.task == "s0"]
    # the paused engine's attempt, the taker's re-run and its success: nothing after
    assert s0 == [
        (State.PENDING, State.RUNNING),
        (State.RUNNING, State.RUNNING),
        (State.RUNNING, State.SUCCEEDED),
    ]
    assert [p for t, _, p in entries(log) if t != "s0"] == [taker.pid] * (STEPS - 1)


async def test_closing_during_a_claim_gives_back_what_the_claim_took(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a claim commits in a worker thread even when its caller is cancelled: an engine closed
    # while its loop was claiming held the runs that claim took until their lease ran out
    workflow = crash_workflow(str(tmp_path / "log"))
    async with await Engine.open(store_url, [workflow], upgrade=True, recover=False) as other:
        store_class = type(other.store)
    claim = store_class.claim
    claiming, go = asyncio.Event(), asyncio.Event()

    async def slow_claim(store: Any, *args: Any, mine: bool = False) -> list[tuple[str, int]]:
        if mine:  # the engine's first claim, in open(): as it is
            return await claim(store, *args, mine=mine)

        async def late() -> list[tuple[str, int]]:
            claiming.set()
            await go.wait()
            return await claim(store, *args, mine=mine)

        return await asyncio.shield(late())  # as the store's thread: not stopped by a cancel

    monkeypatch.setattr(store_class, "claim", slow_claim)
    engine = await Engine.open(store_url, [workflow], poll=0.05)
    await claiming.wait()  # the loop's claim is under way
    async with await Engine.open(store_url, [workflow], recover=False) as other:
        run_id = await other.submit(workflow)  # unowned: that claim will take it
    closing = asyncio.create_task(engine.aclose())
    await asyncio.sleep(0.05)
    go.set()
    await closing
    monkeypatch.undo()
    async with await Engine.open(store_url, [workflow], recover=False) as other:
        info = await other.get(run_id)
    assert info.generation == 1  # the claim took it...
    assert info.owner is None  # ...and the closing engine gave it back
