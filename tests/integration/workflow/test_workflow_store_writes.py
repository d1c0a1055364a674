"""The stores' step path (``stores/_writes.py``) on both stores: a fenced write applies its
changes in order (on PostgreSQL also when one task changes twice, which one statement cannot
do), leaves unchanged what a change does not set, and writes nothing under a stale claim."""

from __future__ import annotations

import pytest

from anker.workflow import Engine, LeaseLost, State, Task, TaskContext, Workflow, sequence
from anker.workflow.stores import Change


async def noop(ctx: TaskContext) -> None:
    return None


FLOW = Workflow("two", sequence(Task("a", noop), Task("b", noop)))


async def claimed(engine: Engine) -> tuple[str, int]:
    await engine.submit(FLOW)
    ((run_id, generation),) = await engine.store.claim("tester", ["two"], 30.0, 1)
    return run_id, generation


async def test_one_write_changes_a_task_twice_in_order(store_url: str) -> None:
    async with await Engine.open(store_url, [FLOW], upgrade=True, recover=False) as engine:
        run_id, generation = await claimed(engine)
        await engine.store.write(
            run_id,
            generation,
            [
                Change(run_old=State.PENDING, run_new=State.RUNNING),
                Change(task="a", old=State.PENDING, new=State.RUNNING, attempts=1, started=5.0),
                Change(task="a", old=State.RUNNING, new=State.RUNNING, attempts=2, error="E: x"),
            ],
        )
        info = await engine.get(run_id)
        history = await engine.store.history(run_id)
    a = info.tasks["a"]
    assert (a.state, a.attempts, a.error, a.started) == (State.RUNNING, 2, "E: x", 5.0)
    assert info.state is State.RUNNING
    assert [(h.task, h.old, h.new, h.attempt) for h in history[1:]] == [
        (None, State.PENDING, State.RUNNING, 0),
        ("a", State.PENDING, State.RUNNING, 1),
        ("a", State.RUNNING, State.RUNNING, 2),
    ]


async def test_what_a_change_does_not_set_stays(store_url: str) -> None:
    async with await Engine.open(store_url, [FLOW], upgrade=True, recover=False) as engine:
        run_id, generation = await claimed(engine)
        store = engine.store
        await store.write(
            run_id,
            generation,
            [
                Change(task="a", old=State.PENDING, new=State.RUNNING, attempts=1, started=5.0),
                Change(task="b", old=State.PENDING, new=State.RUNNING, attempts=1, started=6.0),
            ],
        )
        done = Change(
            task="a",
            old=State.RUNNING,
            new=State.SUCCEEDED,
            attempts=1,
            output={"port": [1, 2]},
            set_output=True,
            finished=7.0,
            succeeded=7.0,
        )
        await store.write(run_id, generation, [done])
        await store.write(  # no output, no times: those stay
            run_id,
            generation,
            [Change(task="a", old=State.SUCCEEDED, new=State.REVERTING, attempts=2)],
        )
        a = (await engine.get(run_id)).tasks["a"]
        assert (a.state, a.attempts, a.output) == (State.REVERTING, 2, {"port": [1, 2]})
        assert (a.started, a.finished, a.succeeded) == (5.0, 7.0, 7.0)
        await store.write(
            run_id,
            generation,
            [Change(task="b", old=State.RUNNING, new=State.SUCCEEDED, set_output=True)],
        )
        b = (await engine.get(run_id)).tasks["b"]
        assert (b.state, b.output, b.started) == (State.SUCCEEDED, None, 6.0)  # JSON null


async def test_a_stale_claim_writes_nothing(store_url: str) -> None:
    async with await Engine.open(store_url, [FLOW], upgrade=True, recover=False) as engine:
        run_id, generation = await claimed(engine)
        before = await engine.store.history(run_id)
        changes = [
            Change(run_old=State.PENDING, run_new=State.RUNNING, run_error="x"),
            Change(task="a", old=State.PENDING, new=State.RUNNING, attempts=1),
        ]
        with pytest.raises(LeaseLost):
            await engine.store.write(run_id, generation + 1, changes)
        info = await engine.get(run_id)
        assert await engine.store.history(run_id) == before
    assert (info.state, info.error, info.tasks["a"].state) == (State.PENDING, None, State.PENDING)
