"""anker.workflow.remote on memory://: execute and revert run on the worker with the task's
context; a task the worker does not serve fails the attempt with a clear error."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from anker.messaging import RPCServer, Target, connect
from anker.workflow import (
    Engine,
    Retry,
    State,
    Task,
    TaskContext,
    TaskWorker,
    Workflow,
    remote,
    sequence,
)

done: list[str] = []


async def reserve(ctx: TaskContext, size: int) -> str:
    done.append(f"reserve {size} as {ctx.key} attempt {ctx.attempt}")
    return f"r-{size}"


async def release(ctx: TaskContext, result: str, size: int) -> None:
    done.append(f"release {result}")


async def fail(ctx: TaskContext, size: int) -> None:
    raise RuntimeError("no room")


async def test_execute_and_revert_run_on_the_worker(tmp_path: Path) -> None:
    done.clear()
    topic = f"w-{uuid.uuid4().hex[:8]}"
    async with (
        await connect(f"memory://{topic}") as transport,
        RPCServer(
            transport, Target(topic=topic), [TaskWorker([Task("reserve", reserve, release)])]
        ),
    ):
        flow = Workflow(
            "remote-revert",
            sequence(
                Task("reserve", *remote(transport, topic, heartbeat=2), requires=("size",)),
                Task("place", fail, requires=("size",), retry=Retry(attempts=1)),
            ),
            inputs=("size",),
        )
        async with await Engine.open(f"sqlite:///{tmp_path}/wf.db", [flow], upgrade=True) as engine:
            info = await engine.run(flow, {"size": 3})
    assert info.state is State.REVERTED
    assert done == [f"reserve 3 as {info.id}:reserve attempt 1", "release r-3"]


async def test_a_task_the_worker_does_not_serve_is_named(tmp_path: Path) -> None:
    topic = f"w-{uuid.uuid4().hex[:8]}"
    async with (
        await connect(f"memory://{topic}") as transport,
        RPCServer(transport, Target(topic=topic), [TaskWorker([Task("reserve", reserve)])]),
    ):
        execute, revert = remote(transport, topic, task="resize", revert=False)
        assert revert is None
        flow = Workflow(
            "unknown",
            Task("resize", execute, requires=("size",), retry=Retry(attempts=1)),
            inputs=("size",),
        )
        async with await Engine.open(f"sqlite:///{tmp_path}/wf.db", [flow], upgrade=True) as engine:
            info = await engine.run(flow, {"size": 1})
    assert info.state is State.REVERTED
    assert "this worker serves ['reserve'], not task 'resize'" in str(info.tasks["resize"].error)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="given twice"):
        TaskWorker([Task("a", reserve), Task("a", reserve)])
    with pytest.raises(ValueError, match="at least 2 seconds"):
        remote(Any, "topic", heartbeat=1)  # type: ignore[arg-type]
