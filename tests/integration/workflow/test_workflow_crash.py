"""Crash recovery with real processes: an engine SIGKILLed during a task or between two
transition commits; a new engine resumes every unfinished run, runs no completed task again,
and runs the in-flight task again (only it) with the same idempotency key."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from anker.workflow import Engine, State

CHILD = str(Path(__file__).with_name("workflow_child.py"))
RUNS = 2


def child(url: str, log: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, CHILD, url, str(log), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def entries(log: Path) -> list[tuple[str, str, int]]:
    lines = log.read_text().split("\n") if log.exists() else []
    return [(t, k, int(p)) for t, k, p in (line.split() for line in lines if line)]


async def crash_and_recover(url: str, tmp_path: Path, **kill: str) -> None:
    log = tmp_path / "tasks.log"
    both = {name: kill.pop(name) for name in ("ENGINE_ID", "LEASE") if name in kill}
    first = child(url, log, "start", str(RUNS), **kill, **both)
    out_first, err = await asyncio.to_thread(first.communicate, timeout=120)
    assert first.returncode == -signal.SIGKILL, err
    before = entries(log)
    second = child(url, log, "serve", **both)
    _, err = await asyncio.to_thread(second.communicate, timeout=120)
    assert second.returncode == 0, err
    after = entries(log)[len(before) :]

    async with await Engine.open(url, [], recover=False) as engine:
        runs = await engine.store.runs()
    started = out_first.split()
    assert len(runs) == RUNS if started else runs  # a kill at a create loses that run only
    assert {run.state for run in runs} == {State.SUCCEEDED}  # every run resumed and ended
    rerun: set[str] = set()
    for run in runs:
        mine = [(t, k, p) for t, k, p in before + after if k.startswith(f"{run.id}:")]
        counts = Counter(t for t, _, _ in mine)
        assert set(counts) == {f"s{i}" for i in range(6)}  # no step lost
        twice = [t for t, n in counts.items() if n > 1]
        assert all(n <= 2 for n in counts.values()), counts
        assert len(twice) <= 1, counts  # only the in-flight task may run again
        if twice:
            (again,) = twice
            rerun.add(again)
            logged_before = [t for t, k, _ in before if k.startswith(f"{run.id}:")]
            assert logged_before[-1] == again  # it was in flight when the engine died
            assert {k for t, k, _ in mine if t == again} == {f"{run.id}:{again}"}
        assert [t for t, _, _ in mine if t not in twice] == sorted(
            t for t in counts if t not in twice
        )
    if "KILL_IN_TASK" in kill:  # the task killed in flight ran again (and the other
        assert kill["KILL_IN_TASK"] in rerun  # run's in-flight task, if it had one)


@pytest.mark.parametrize("task", ["s0", "s3", "s5"])
async def test_a_kill_during_a_task_reruns_only_that_task_with_its_key(
    store_url: str, tmp_path: Path, task: str
) -> None:
    await crash_and_recover(store_url, tmp_path, KILL_IN_TASK=task)


@pytest.mark.parametrize("commit", ["2", "3", "4", "5", "8", "13"])
async def test_a_kill_between_transition_commits_loses_nothing(
    store_url: str, tmp_path: Path, commit: str
) -> None:
    await crash_and_recover(store_url, tmp_path, KILL_AT_COMMIT=commit)


async def test_a_restarted_engine_with_the_same_id_resumes_without_waiting_for_its_lease(
    store_url: str, tmp_path: Path
) -> None:
    # a ten-minute lease: the second engine finishing within its 120 s proves it took its
    # runs back at once
    same = {"ENGINE_ID": "host1-svc", "LEASE": "600"}
    await crash_and_recover(store_url, tmp_path, KILL_IN_TASK="s2", **same)
