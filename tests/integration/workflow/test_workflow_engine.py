"""The engine on every store: order, data, parallel branches, retry, revert, failure, resume,
cancellation, deadlines, versioning; every transition persisted with its time."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from anker.db import SchemaNotCurrent
from anker.workflow import (
    Engine,
    InvalidWorkflow,
    Retry,
    State,
    Task,
    TaskContext,
    Workflow,
    parallel,
    sequence,
)
from waiting import eventually

FAST = Retry(attempts=3, first=0.001, cap=0.01)


class Recorder:
    """Tasks that record what ran, with which key, and fail on demand."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.fail: dict[str, int] = {}  # task -> how many more attempts fail

    def step(
        self,
        name: str,
        value: Any = None,
        *,
        requires: tuple[str, ...] = (),
        provides: str | None = None,
        revert: bool = True,
        retry: Retry = FAST,
        timeout: float | None = None,
    ) -> Task:
        async def execute(ctx: TaskContext, **inputs: Any) -> Any:
            self.calls.append(("execute", name, ctx.key))
            if self.fail.get(name, 0) > 0:
                self.fail[name] -= 1
                raise RuntimeError(f"{name} failed")
            return value if value is not None else {"from": name, "inputs": inputs}

        async def undo(ctx: TaskContext, result: Any, **inputs: Any) -> None:
            self.calls.append(("revert", name, ctx.key))
            if self.fail.get(f"revert:{name}", 0) > 0:
                self.fail[f"revert:{name}"] -= 1
                raise RuntimeError(f"revert of {name} failed")

        return Task(
            name,
            execute,
            undo if revert else None,
            requires=requires,
            provides=provides,
            retry=retry,
            timeout=timeout,
        )

    def ran(self, kind: str = "execute") -> list[str]:
        return [name for what, name, _ in self.calls if what == kind]


async def test_a_store_without_its_tables_is_refused_naming_the_command(store_url: str) -> None:
    with pytest.raises(SchemaNotCurrent, match=r"anker workflow --url .* upgrade"):
        await Engine.open(store_url, [])


async def test_inputs_missing_or_not_json_are_refused_naming_them(store_url: str) -> None:
    flow = Workflow("inputs", Task("a", Recorder().step("a").execute), inputs=("when", "size"))
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        with pytest.raises(InvalidWorkflow, match="a run needs the inputs size, when"):
            await engine.start(flow)
        # was a bare TypeError from json naming neither the input nor the workflow
        with pytest.raises(InvalidWorkflow, match="'inputs': input 'when' is not JSON: Object"):
            await engine.start(flow, {"size": 1, "when": datetime.datetime.now(datetime.UTC)})
        assert await engine.store.runs() == []


async def test_a_sequence_runs_in_order_passing_data_and_records_every_transition(
    store_url: str,
) -> None:
    rec = Recorder()
    flow = Workflow(
        "seq",
        sequence(
            rec.step("a", {"id": 1}, requires=("size",), provides="a_out"),
            rec.step("b", requires=("a_out",), provides="b_out"),
            rec.step("c", requires=("b_out", "size")),
        ),
        inputs=("size",),
    )
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        info = await engine.run(flow, {"size": 4})
        assert info.state is State.SUCCEEDED
        assert rec.ran() == ["a", "b", "c"]
        assert info.tasks["b"].output == {"from": "b", "inputs": {"a_out": {"id": 1}}}
        assert {task.state for task in info.tasks.values()} == {State.SUCCEEDED}
        assert info.tasks["a"].key == f"{info.id}:a"
        history = await engine.store.history(info.id)
        steps = [(h.task, h.old, h.new) for h in history]
        assert steps[0] == (None, None, State.PENDING)
        assert steps[1] == (None, State.PENDING, State.RUNNING)
        assert steps[-1] == (None, State.RUNNING, State.SUCCEEDED)
        for name in "abc":
            assert [(o, n) for t, o, n in steps if t == name] == [
                (State.PENDING, State.RUNNING),
                (State.RUNNING, State.SUCCEEDED),
            ]
        times = [h.at for h in history]
        assert times == sorted(times)


async def test_parallel_branches_run_at_the_same_time(store_url: str) -> None:
    both = asyncio.Barrier(2)

    async def meet(ctx: TaskContext) -> str:
        async with asyncio.timeout(30):  # only passes if both branches are running
            await both.wait()
        return ctx.task

    flow = Workflow(
        "par", parallel(Task("left", meet, provides="l"), Task("right", meet, provides="r"))
    )
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        info = await engine.run(flow)
        assert info.state is State.SUCCEEDED


async def test_a_task_waits_for_the_task_providing_its_input_in_any_flow(
    store_url: str,
) -> None:
    rec = Recorder()
    flow = Workflow(
        "graph",
        parallel(
            rec.step("late", requires=("early_out",)),
            sequence(rec.step("early", provides="early_out")),
        ),
    )
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        assert (await engine.run(flow)).state is State.SUCCEEDED
    assert rec.ran() == ["early", "late"]


async def test_a_failing_attempt_is_retried_with_the_same_key(store_url: str) -> None:
    rec = Recorder()
    rec.fail["b"] = 2
    flow = Workflow("retry", sequence(rec.step("a"), rec.step("b")))
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        info = await engine.run(flow)
    assert info.state is State.SUCCEEDED
    keys = {key for what, name, key in rec.calls if name == "b"}
    assert rec.ran() == ["a", "b", "b", "b"]
    assert keys == {f"{info.id}:b"}
    assert info.tasks["b"].attempts == 3


async def test_errors_not_named_by_the_policy_are_not_retried(store_url: str) -> None:
    rec = Recorder()
    rec.fail["a"] = 1
    flow = Workflow("noretry", rec.step("a", retry=Retry(attempts=5, first=0.001, on=(KeyError,))))
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        info = await engine.run(flow)
    assert info.state is State.REVERTED
    assert rec.ran() == ["a"]
    assert info.tasks["a"].state is State.FAILED
    assert "RuntimeError: a failed" in (info.tasks["a"].error or "")


async def test_a_failure_reverts_the_succeeded_tasks_newest_first(store_url: str) -> None:
    rec = Recorder()
    rec.fail["d"] = 99
    flow = Workflow(
        "revert", sequence(rec.step("a"), rec.step("b", revert=False), rec.step("c"), rec.step("d"))
    )
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        info = await engine.run(flow)
    assert info.state is State.REVERTED
    assert "task 'd' failed" in (info.error or "")
    assert rec.ran("revert") == ["c", "a"]
    assert rec.ran() == ["a", "b", "c", "d", "d", "d"]
    assert [info.tasks[n].state for n in "abcd"] == [State.REVERTED] * 3 + [State.FAILED]
    revert_keys = {key for what, name, key in rec.calls if what == "revert" and name == "c"}
    assert revert_keys == {f"{info.id}:c"}


async def test_a_failing_revert_is_retried_then_fails_the_run_which_resumes(
    store_url: str,
) -> None:
    rec = Recorder()
    rec.fail["b"] = 99
    rec.fail["revert:a"] = 3  # the first series of three attempts fails
    flow = Workflow("badrevert", sequence(rec.step("a"), rec.step("b")))
    async with await Engine.open(store_url, [flow], upgrade=True, poll=0.05) as engine:
        info = await engine.run(flow)
        assert info.state is State.FAILED
        assert "reverting task 'a' failed" in (info.error or "")
        assert info.tasks["a"].state is State.FAILED
        assert rec.ran("revert") == ["a", "a", "a"]
        resumed = await engine.resume(info.id)
        assert resumed.state is State.REVERTING
        final = await engine.wait(info.id, timeout=60)
        assert final.state is State.REVERTED
        assert rec.ran("revert") == ["a", "a", "a", "a"]
        assert rec.ran() == ["a", "b", "b", "b"]  # resuming never re-executes


async def test_a_task_timeout_is_an_error_that_retries(store_url: str) -> None:
    slow = {"left": 1}

    async def sleepy(ctx: TaskContext) -> str:
        if slow["left"]:
            slow["left"] -= 1
            await asyncio.sleep(60)
        return "ok"

    flow = Workflow("timeout", Task("t", sleepy, timeout=0.2, retry=FAST))
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        info = await engine.run(flow)
    assert info.state is State.SUCCEEDED
    assert info.tasks["t"].attempts == 2


async def test_cancelling_a_run_reverts_its_succeeded_tasks(store_url: str) -> None:
    rec = Recorder()
    gate = asyncio.Event()

    async def blocked(ctx: TaskContext) -> None:
        await gate.wait()

    flow = Workflow("cancel", sequence(rec.step("a"), Task("wait", blocked), rec.step("c")))
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        run_id = await engine.start(flow)

        async def waiting() -> bool:
            return (await engine.get(run_id)).tasks["wait"].state is State.RUNNING

        await eventually(waiting, timeout=30)
        await engine.cancel(run_id)
        gate.set()  # the running task ends; the run sees the request at that transition
        info = await engine.wait(run_id, timeout=60)
    assert info.state is State.CANCELLED
    assert rec.ran() == ["a"]
    assert rec.ran("revert") == ["a"]


async def test_a_cancel_while_the_last_task_runs_stops_nothing(store_url: str) -> None:
    # docs/workflow.md: with no task left to start, the running one finishes and the run
    # ends SUCCEEDED, nothing reverted
    rec = Recorder()
    gate = asyncio.Event()

    async def blocked(ctx: TaskContext) -> None:
        await gate.wait()

    flow = Workflow("late-cancel", sequence(rec.step("a"), Task("last", blocked)))
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        run_id = await engine.start(flow)

        async def waiting() -> bool:
            return (await engine.get(run_id)).tasks["last"].state is State.RUNNING

        await eventually(waiting, timeout=30)
        assert (await engine.cancel(run_id)).cancel_requested
        gate.set()
        info = await engine.wait(run_id, timeout=60)
    assert info.state is State.SUCCEEDED
    assert rec.ran("revert") == []


async def test_a_run_past_its_deadline_is_cancelled(store_url: str) -> None:
    rec = Recorder()

    async def forever(ctx: TaskContext) -> None:
        await asyncio.sleep(3600)

    flow = Workflow("deadline", sequence(rec.step("a"), Task("slow", forever, retry=FAST)))
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        info = await engine.run(flow, deadline=5)  # "a" ends long before
    assert info.state is State.CANCELLED
    assert info.error == "deadline exceeded"
    assert rec.ran("revert") == ["a"]
    assert info.tasks["slow"].attempts == 1


async def test_a_cancelled_run_taken_over_ends_the_task_left_running(store_url: str) -> None:
    rec = Recorder()
    started = asyncio.Event()

    async def blocked(ctx: TaskContext) -> None:
        started.set()
        await asyncio.sleep(3600)

    flow = Workflow("orphan", sequence(rec.step("a"), Task("wait", blocked), rec.step("c")))
    async with await Engine.open(store_url, [flow], upgrade=True) as engine:
        run_id = await engine.start(flow)
        await asyncio.wait_for(started.wait(), 30)
    # its engine gone (as after a crash) with "wait" RUNNING; then the run is cancelled
    async with await Engine.open(store_url, [], recover=False) as other:
        assert (await other.cancel(run_id)).cancel_requested
    async with await Engine.open(store_url, [flow], poll=0.05) as engine:
        info = await engine.wait(run_id, timeout=60)
    assert info.state is State.CANCELLED
    assert rec.ran("revert") == ["a"]
    # it stayed RUNNING in an ended run, for ever
    assert info.tasks["wait"].state is State.FAILED
    assert info.tasks["wait"].error == "interrupted: the run was cancelled"
    assert info.tasks["c"].state is State.PENDING


async def test_cancelling_a_pending_run_nobody_holds_ends_it_at_once(store_url: str) -> None:
    flow = Workflow("idle", Task("a", Recorder().step("a").execute))
    async with await Engine.open(store_url, [flow], upgrade=True, recover=False) as engine:
        run_id = await engine.start(flow)
        await engine.aclose()
    async with await Engine.open(store_url, [], recover=False) as other:
        info = await other.cancel(run_id)
        assert info.state is State.CANCELLED


async def test_a_run_of_an_older_compatible_version_resumes_and_an_incompatible_is_reported(
    store_url: str,
) -> None:
    gate = asyncio.Event()

    async def wait(ctx: TaskContext) -> None:
        await gate.wait()

    async def ok(ctx: TaskContext) -> None:
        return None

    v1 = Workflow("upgrade", sequence(Task("a", wait), Task("b", ok)), version=1)
    async with await Engine.open(store_url, [v1], upgrade=True) as engine:
        same = await engine.start(v1)
        other = await engine.start(v1)
    v2 = Workflow("upgrade", sequence(Task("a", ok), Task("b", ok)), version=2)
    async with await Engine.open(store_url, [v2], poll=0.05) as engine:
        assert (await engine.wait(same, timeout=60)).state is State.SUCCEEDED
        assert (await engine.wait(other, timeout=60)).state is State.SUCCEEDED
    v1b = Workflow("changed", sequence(Task("a", wait), Task("b", ok)), version=1)
    async with await Engine.open(store_url, [v1b]) as engine:
        stuck = await engine.start(v1b)
    v3 = Workflow("changed", sequence(Task("a", ok), Task("c", ok)), version=3)
    async with await Engine.open(store_url, [v3], poll=0.05) as engine:

        async def reported() -> bool:
            return (await engine.get(stuck)).problem is not None

        await eventually(reported, timeout=30)
        info = await engine.get(stuck)
        assert info.state in (State.PENDING, State.RUNNING)
        assert "tasks no longer defined: b; tasks new: c" in (info.problem or "")
        assert info.owner is None


async def test_a_migrate_hook_renames_the_tasks_of_an_older_run_which_then_resumes(
    store_url: str,
) -> None:
    gate = asyncio.Event()
    ran: list[tuple[str, str]] = []

    async def first(ctx: TaskContext) -> str:
        ran.append((ctx.task, ctx.key))
        return "reserved"

    async def blocked(ctx: TaskContext, got: str) -> None:
        await gate.wait()

    v1 = Workflow(
        "renamed",
        sequence(Task("a", first, provides="got"), Task("b", blocked, requires=("got",))),
        version=1,
    )
    async with await Engine.open(store_url, [v1], upgrade=True) as engine:
        run_id = await engine.start(v1)

        async def b_running() -> bool:
            return (await engine.get(run_id)).tasks["b"].state is State.RUNNING

        await eventually(b_running, timeout=30)

    async def second(ctx: TaskContext, got: str) -> str:
        ran.append((ctx.task, ctx.key))
        return got

    v2 = Workflow(
        "renamed",
        sequence(Task("reserve", first, provides="got"), Task("boot", second, requires=("got",))),
        version=2,
        migrate=lambda version, tasks: {"a": "reserve", "b": "boot"} if version == 1 else {},
    )
    async with await Engine.open(store_url, [v2], poll=0.05) as engine:
        info = await engine.wait(run_id, timeout=60)
        history = await engine.store.history(run_id)
    assert info.state is State.SUCCEEDED
    assert info.version == 2
    assert set(info.tasks) == {"reserve", "boot"}
    # the succeeded task did not run again; the in-flight one ran with its original key
    assert ran == [("a", f"{run_id}:a"), ("boot", f"{run_id}:b")]
    assert info.tasks["boot"].output == "reserved"
    assert {h.task for h in history} == {None, "reserve", "boot"}
