"""An engine in a process of its own, for the crash and scale-out tests.

    python workflow_child.py URL LOG start N   start N runs here and drive them to the end
    python workflow_child.py URL LOG serve     take over runs until none is active

Each task appends ``task key pid`` to LOG (flushed and synced before it returns). Environment:
``KILL_AT_COMMIT=N`` SIGKILLs the process just before its N-th commit after start-up (between
two transition commits; on PostgreSQL a transition is one autocommitted statement, killed
before it is sent); ``KILL_IN_TASK=name`` after that task logged (during the task);
``TASK_SLEEP`` seconds each task sleeps after logging; ``LEASE``, ``POLL`` and
``MAX_RUNS``, ``ENGINE_ID`` the engine's; ``LINGER`` seconds ``serve`` stays once no run is active.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any

import sqlalchemy as sa

from anker.workflow import Engine, State, Task, TaskContext, Workflow, sequence
from anker.workflow.stores._writes import PG_WRITE

STEPS = 6


def append(log: str, line: str) -> None:
    """Add ``line`` to the log, on disk before the task goes on."""
    with open(log, "a") as file:
        file.write(line)
        file.flush()
        os.fsync(file.fileno())


def crash_workflow(log: str) -> Workflow:
    kill_in = os.environ.get("KILL_IN_TASK")
    pause = float(os.environ.get("TASK_SLEEP", "0"))

    def step(name: str) -> Task:
        async def execute(ctx: TaskContext, **inputs: Any) -> int:
            append(log, f"{name} {ctx.key} {os.getpid()}\n")
            if name == kill_in:
                os.kill(os.getpid(), signal.SIGKILL)
            if pause:
                await asyncio.sleep(pause)
            return len(inputs)

        return Task(name, execute)

    return Workflow("crash", sequence(*(step(f"s{i}") for i in range(STEPS))))


async def main() -> None:
    url, log, mode, *rest = sys.argv[1:]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    workflow = crash_workflow(log)
    engine = await Engine.open(
        url,
        [workflow],
        upgrade=mode == "start",
        recover=mode != "start",  # its own runs only: the commits counted are theirs
        lease=float(os.environ.get("LEASE", "1")),
        poll=float(os.environ.get("POLL", "0.1")),
        max_runs=int(os.environ.get("MAX_RUNS", "100")),
        engine_id=os.environ.get("ENGINE_ID"),
    )
    kill_at = int(os.environ.get("KILL_AT_COMMIT", "0"))
    if kill_at:
        commits = 0

        def on_commit(_connection: object) -> None:
            nonlocal commits
            commits += 1
            if commits == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        def on_execute(*args: object) -> None:
            if args[2] == PG_WRITE:  # PostgreSQL's transitions commit on their own
                on_commit(None)

        sa.event.listen(engine.store.engine, "commit", on_commit)  # type: ignore[attr-defined]
        sa.event.listen(engine.store.engine, "before_cursor_execute", on_execute)  # type: ignore[attr-defined]
    async with engine:
        if mode == "start":
            ids = [await engine.start(workflow) for _ in range(int(rest[0]))]
            print(" ".join(ids), flush=True)
            for run_id in ids:
                await engine.wait(run_id, timeout=120)
        else:
            print("serving", flush=True)
            active = [State.PENDING, State.RUNNING, State.REVERTING]
            while await engine.store.runs(active):  # noqa: ASYNC110 (no event announces it)
                await asyncio.sleep(0.1)
            await asyncio.sleep(float(os.environ.get("LINGER", "0")))


if __name__ == "__main__":
    asyncio.run(main())
