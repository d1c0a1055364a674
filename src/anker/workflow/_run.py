"""One run being driven by an engine: its claim generation, what it has seen, and the
changes of its tasks' states it commits (each checked against the state machines first)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from anker._observe import report
from anker.workflow._states import RUN_TRANSITIONS, TASK_TRANSITIONS, TERMINAL, State, check
from anker.workflow._store import Change, RunInfo, TaskInfo

if TYPE_CHECKING:
    from anker.workflow._engine import Engine
    from anker.workflow._model import Task, Workflow

__all__ = ["Run"]


class Run:
    """One run being driven by this engine: its claim generation and what it has seen."""

    def __init__(self, engine: Engine, info: RunInfo, generation: int, workflow: Workflow):
        self.engine = engine
        self.id = info.id
        self.generation = generation
        self.workflow = workflow
        self.plan = engine._plans[workflow.name]
        self.dependents, self.order = engine._graphs[workflow.name]
        self.state = info.state
        self.tasks: dict[str, TaskInfo] = dict(info.tasks)
        self.inputs = info.inputs
        self.deadline = info.deadline
        self.created = info.created
        self.cancel = info.cancel_requested
        self.values: dict[str, Any] = dict(info.inputs)
        for name, task_info in info.tasks.items():
            task = self.plan[name][0]
            if task_info.succeeded is not None and task.provides is not None:
                self.values[task.provides] = task_info.output

    def late(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    async def write(self, change: Change) -> None:
        await self.write_all([change])

    async def write_all(self, changes: list[Change]) -> None:
        """Commit ``changes`` in one fenced transaction, each checked against the state
        machines first."""
        for change in changes:
            if change.task is not None and change.old is not None and change.new is not None:
                check(
                    f"task {change.task!r} of run {self.id}",
                    TASK_TRANSITIONS,
                    change.old,
                    change.new,
                )
            if change.run_new is not None:
                assert change.run_old is not None
                check(f"workflow run {self.id}", RUN_TRANSITIONS, change.run_old, change.run_new)
        if await self.engine.store.write(self.id, self.generation, changes):
            self.cancel = True
        for change in changes:
            if change.run_new is not None:
                self.state = change.run_new

    async def move(self, new: State, error: str | None = None) -> None:
        await self.write(Change(run_old=self.state, run_new=new, run_error=error))
        if new in TERMINAL:  # for the metrics of a service (anker_workflow_runs_total)
            report(
                "workflow.run",
                time.time() - self.created,
                workflow=self.workflow.name,
                state=new.value,
            )

    def starting(self, task: Task) -> Change:
        """Record the start of ``task``'s first attempt here in memory; the change to commit."""
        info = self.tasks[task.name]
        now = time.time()
        self.tasks[task.name] = TaskInfo(
            task.name, State.RUNNING, info.key, info.attempts + 1, started=info.started or now
        )
        return Change(
            task=task.name,
            old=info.state,
            new=State.RUNNING,
            attempts=info.attempts + 1,
            started=now if info.started is None else None,
        )

    def stopped(self) -> str | None:
        """Why the run must stop starting tasks (cancelled, past its deadline), if so."""
        if self.cancel:
            return "cancelled"
        return "deadline exceeded" if self.late() else None

    def not_run(self, task: Task, *, interrupted: bool = False) -> Change:
        """A started task the run's cancellation stopped before it ran (``interrupted``: one
        the engine that died left running)."""
        info = self.tasks[task.name]
        why = "the run was cancelled" if self.cancel else "deadline exceeded"
        error = f"{'interrupted' if interrupted else 'not run'}: {why}"
        self.tasks[task.name] = TaskInfo(
            task.name, State.FAILED, info.key, info.attempts, error=error, started=info.started
        )
        return Change(
            task=task.name,
            old=State.RUNNING,
            new=State.FAILED,
            attempts=info.attempts,
            error=error,
            finished=time.time(),
        )

    def succeeded(self, task: Task, result: Any, encoded: str | None = None) -> Change:
        """Record ``task``'s success in memory (``encoded``: its result as JSON, if the
        caller has it); the change to commit."""
        info = self.tasks[task.name]
        now = time.time()
        self.tasks[task.name] = TaskInfo(
            task.name,
            State.SUCCEEDED,
            info.key,
            info.attempts,
            output=result,
            started=info.started,
            finished=now,
            succeeded=now,
        )
        if task.provides is not None:
            self.values[task.provides] = result
        return Change(
            task=task.name,
            old=State.RUNNING,
            new=State.SUCCEEDED,
            attempts=info.attempts,
            output=result,
            set_output=True,
            encoded=encoded,
            finished=now,
            succeeded=now,
        )

    def ready(self, started: set[str], candidates: set[str] | None) -> list[Task]:
        """The tasks (among ``candidates``: those whose predecessors just succeeded) not
        started nor succeeded whose predecessors all succeeded, in the plan's order."""
        succeeded = State.SUCCEEDED
        names = self.plan if candidates is None else sorted(candidates, key=self.order.__getitem__)
        return [
            self.plan[name][0]
            for name in names
            if name not in started
            and self.tasks[name].state is not succeeded
            and all(self.tasks[w].state is succeeded for w in self.plan[name][1])
        ]

    def limit(self, task: Task) -> float | None:
        """How long ``task``'s attempt may take: its timeout, or what is left of the run's
        deadline if sooner."""
        limits = [] if task.timeout is None else [task.timeout]
        if self.deadline is not None:
            limits.append(max(0.0, self.deadline - time.time()))
        return min(limits) if limits else None
