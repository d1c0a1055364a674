"""Running one task of a run: its attempts (execute, retried by its policy, bounded by its
timeout and the run's deadline) and its revert (retried the same way), each attempt's
transitions committed through the run.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from anker._drivers import Backoff
from anker._url import mask_secrets
from anker.workflow._errors import TaskTimeout
from anker.workflow._model import TaskContext
from anker.workflow._states import State
from anker.workflow._store import Change, TaskInfo

if TYPE_CHECKING:
    from anker.workflow._model import Task
    from anker.workflow._run import Run

__all__ = ["ERROR_CHARS", "Inflight", "Outcome", "execute", "revert", "run_tasks"]

#: how one task's attempts ended: its error (None: it succeeded), its result and as JSON
Outcome = tuple[str | None, Any, str]
#: the tasks running at the same time, with their names
Inflight = dict["asyncio.Task[Outcome]", str]

#: a run's error text is cut to this many characters
ERROR_CHARS = 2000


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return mask_secrets(text)[:ERROR_CHARS]


async def run_tasks(
    run: Run, ready: list[Task], inflight: Inflight
) -> list[tuple[str, Outcome]] | None:
    """Start ``ready`` (their first attempt's RUNNING committed) beside ``inflight``; the
    outcomes of those that ended first, by name (None: none was running)."""
    if len(ready) == 1 and not inflight:
        # alone (a sequence): run it here, no task to schedule; nothing else can start
        # before it ends
        return [(ready[0].name, await execute(run, ready[0]))]
    for task in ready:
        inflight[asyncio.create_task(execute(run, task))] = task.name
    if not inflight:
        return None
    done, _ = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
    # LeaseLost, store errors end the drive
    return [(inflight.pop(task), task.result()) for task in done]


async def execute(run: Run, task: Task) -> Outcome:
    """Every attempt of one task, its first attempt's RUNNING already committed:
    ``(None, result, result as JSON)`` once it succeeded (the caller commits that), or its
    last error (committed here)."""
    policy = task.retry
    backoff = Backoff(first=policy.first, cap=policy.cap)
    inputs = {name: run.values[name] for name in task.requires}
    error: str | None = None
    for attempt in range(1, policy.attempts + 1):
        info = run.tasks[task.name]
        if attempt > 1:
            await run.write(
                Change(
                    task=task.name,
                    old=State.RUNNING,
                    new=State.RUNNING,
                    attempts=info.attempts + 1,
                    error=error,
                )
            )
            info = TaskInfo(
                task.name, State.RUNNING, info.key, info.attempts + 1, started=info.started
            )
            run.tasks[task.name] = info
        context = TaskContext(run.id, task.name, info.key, attempt)
        limit = run.limit(task)
        try:
            async with asyncio.timeout(limit):
                result = await task.execute(context, **inputs)
        except Exception as exc:
            failure: BaseException = exc
            if isinstance(exc, TimeoutError) and limit is not None:
                failure = TaskTimeout(task.name, limit)
            error = _describe(failure)
            retry = isinstance(exc, policy.on) and not run.late() and not run.cancel
            if attempt < policy.attempts and retry:
                await backoff.sleep()
                continue
            return await _failed(run, task, info, error), None, ""
        try:
            encoded = json.dumps(result)  # checked here, and stored as it is
        except (TypeError, ValueError) as exc:
            error = f"its result is not JSON: {exc}"
            return await _failed(run, task, info, error), None, ""
        return None, result, encoded
    raise AssertionError("unreachable")  # pragma: no cover


async def _failed(run: Run, task: Task, info: TaskInfo, error: str) -> str:
    await run.write(
        Change(
            task=task.name,
            old=State.RUNNING,
            new=State.FAILED,
            attempts=info.attempts,
            error=error,
            finished=time.time(),
        )
    )
    run.tasks[task.name] = TaskInfo(
        task.name, State.FAILED, info.key, info.attempts, error=error, started=info.started
    )
    return error


async def revert(run: Run) -> str | None:
    """Revert the succeeded tasks newest first; None, or the error of a revert that
    failed after its retries (the rest are left as they are)."""
    done = sorted(
        (
            info
            for info in run.tasks.values()
            if info.succeeded is not None and info.state is not State.REVERTED
        ),
        key=lambda info: info.succeeded or 0.0,
        reverse=True,
    )
    for info in done:
        task = run.plan[info.name][0]
        error = await _undo(run, task, info)
        if error is not None:
            return f"reverting task {task.name!r} failed: {error}"
    return None


async def _undo(run: Run, task: Task, info: TaskInfo) -> str | None:
    if task.revert is None:  # nothing to undo: one transition
        await run.write(
            Change(
                task=task.name,
                old=info.state,
                new=State.REVERTED,
                attempts=info.attempts,
                finished=time.time(),
            )
        )
        return None
    policy = task.retry
    backoff = Backoff(first=policy.first, cap=policy.cap)
    inputs = {name: run.values[name] for name in task.requires}
    state = info.state
    attempts = info.attempts
    error: str | None = None
    for attempt in range(1, policy.attempts + 1):
        attempts += 1
        await run.write(
            Change(task=task.name, old=state, new=State.REVERTING, attempts=attempts, error=error)
        )
        state = State.REVERTING
        context = TaskContext(run.id, task.name, info.key, attempt)
        try:
            async with asyncio.timeout(task.timeout):
                await task.revert(context, info.output, **inputs)
        except Exception as exc:
            failure: BaseException = exc
            if isinstance(exc, TimeoutError) and task.timeout is not None:
                failure = TaskTimeout(task.name, task.timeout)
            error = _describe(failure)
            if attempt < policy.attempts and isinstance(exc, policy.on):
                await backoff.sleep()
                continue
            await run.write(
                Change(
                    task=task.name,
                    old=State.REVERTING,
                    new=State.FAILED,
                    attempts=attempts,
                    error=error,
                    finished=time.time(),
                )
            )
            return error
        await run.write(
            Change(
                task=task.name,
                old=State.REVERTING,
                new=State.REVERTED,
                attempts=attempts,
                finished=time.time(),
            )
        )
        return None
    raise AssertionError("unreachable")  # pragma: no cover
