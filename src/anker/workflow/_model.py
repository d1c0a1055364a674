"""Workflow definitions in plain typed Python: tasks, retry policies, flows, workflows.

A :class:`Task` names an ``execute`` coroutine function (and optionally a ``revert``), the data
names it ``requires`` (keyword arguments, taken from the run's inputs or from earlier tasks'
outputs) and the name it ``provides`` (its return value). Flows arrange tasks and other flows:
:func:`sequence` (one after the other), :func:`parallel` (at the same time) and :func:`graph`
(ordered only by data: a task runs once every task providing one of its inputs succeeded). In
every flow, a task also waits for the tasks that provide its inputs. A :class:`Workflow` is a
named, versioned flow; :meth:`Workflow.tasks` is its compiled form, each task with the names of
the tasks it waits for.

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from anker.workflow._errors import InvalidWorkflow

__all__ = [
    "Flow",
    "Retry",
    "Task",
    "TaskContext",
    "Workflow",
    "graph",
    "parallel",
    "sequence",
]

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


@dataclass(frozen=True)
class Retry:
    """How often a task is tried and how long to wait between attempts.

    ``attempts`` counts the first one (1: never retried). Delays are drawn by the driver kit's
    :class:`~anker.drivers.Backoff` (exponential from ``first`` up to ``cap`` seconds, full
    jitter). Only errors that are instances of ``on`` are retried; others fail the task at
    once. The same policy applies to the task's ``revert``.
    """

    attempts: int = 3
    first: float = 0.1
    cap: float = 5.0
    on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Retry needs attempts >= 1, got {self.attempts}")
        if not 0 < self.first <= self.cap:
            raise ValueError(f"Retry needs 0 < first <= cap, got {self.first}, {self.cap}")


@dataclass(frozen=True)
class TaskContext:
    """What a task's ``execute`` and ``revert`` receive first.

    ``key`` is the task's idempotency key: the same for every attempt of the task in this run,
    before and after a crash, and for its revert; pass it to the services the task calls so
    that a repeated call has its effect once. ``attempt`` counts from 1 within one engine's
    series of attempts; ``run_id`` and ``task`` say where the task runs.
    """

    run_id: str
    task: str
    key: str
    attempt: int


ExecuteFn = Callable[..., Awaitable[Any]]
RevertFn = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Task:
    """One step: ``await execute(context, **inputs)``; its result is stored as ``provides``.

    ``revert(context, result, **inputs)`` undoes a succeeded execute when a later task fails
    (it must be idempotent too: it may run again after a crash). ``timeout`` bounds one
    attempt, in seconds. ``requires`` defaults to nothing; inputs missing from the run's
    inputs and from every earlier task's outputs are refused when the workflow is defined.
    """

    name: str
    execute: ExecuteFn
    revert: RevertFn | None = None
    requires: tuple[str, ...] = ()
    provides: str | None = None
    retry: Retry = field(default_factory=Retry)
    timeout: float | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"task name {self.name!r}: use 1 to 200 of A-Z a-z 0-9 _ . : -")
        requires: object = self.requires
        if isinstance(requires, str):
            raise TypeError(f"task {self.name!r}: requires is a tuple of names, not a string")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"task {self.name!r}: timeout must be > 0, got {self.timeout}")


@dataclass(frozen=True)
class Flow:
    """Tasks and flows arranged ``kind``: ``sequence``, ``parallel`` or ``graph``."""

    kind: str
    items: tuple[Task | Flow, ...]

    def tasks(self) -> Iterable[Task]:
        """Every task of the flow and its nested flows, depth first."""
        for item in self.items:
            if isinstance(item, Task):
                yield item
            else:
                yield from item.tasks()


def sequence(*items: Task | Flow) -> Flow:
    """Run ``items`` one after the other (each waits for every task of the one before)."""
    return Flow("sequence", items)


def parallel(*items: Task | Flow) -> Flow:
    """Run ``items`` at the same time (they wait only for the tasks providing their inputs)."""
    return Flow("parallel", items)


def graph(*items: Task | Flow) -> Flow:
    """Order ``items`` by data alone: the same as :func:`parallel`, named for what it means."""
    return Flow("graph", items)


def _edges(item: Task | Flow, after: frozenset[str], out: dict[str, set[str]]) -> frozenset[str]:
    """Record that every task of ``item`` waits for ``after``; the names of its tasks."""
    if isinstance(item, Task):
        out[item.name] |= after
        return frozenset({item.name})
    if item.kind == "sequence":
        done = after
        names: set[str] = set()
        for child in item.items:
            done = _edges(child, done, out)
            names |= done
        return frozenset(names) if item.items else after
    names = set()
    for child in item.items:
        names |= _edges(child, after, out)
    return frozenset(names)


@dataclass(frozen=True)
class Workflow:
    """A named, versioned workflow: ``flow`` run with the inputs a run is started with.

    A run records ``name`` and ``version``. An engine with a newer version resumes a run of an
    older one when every task the run has recorded still exists (after ``migrate`` renamed
    them: ``migrate(old_version, recorded_task_names)`` returns ``{old: new}``); otherwise the
    run is reported (``anker workflow list`` shows the reason) and left as it is.
    ``inputs`` are the names a run must be started with.
    """

    name: str
    flow: Flow | Task
    version: int = 1
    inputs: tuple[str, ...] = ()
    migrate: Callable[[int, Sequence[str]], Mapping[str, str]] | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidWorkflow(self.name, "use 1 to 200 of A-Z a-z 0-9 _ . : - in its name")
        self.tasks()  # checked once, here

    def tasks(self) -> dict[str, tuple[Task, frozenset[str]]]:
        """Each task by name, with the names of the tasks it waits for (flow order and data),
        in an order where every task comes after those it waits for."""
        flow = self.flow if isinstance(self.flow, Flow) else Flow("sequence", (self.flow,))
        tasks = list(flow.tasks())
        by_name: dict[str, Task] = {}
        providers: dict[str, str] = {}
        for task in tasks:
            if task.name in by_name:
                raise InvalidWorkflow(self.name, f"two tasks are named {task.name!r}")
            by_name[task.name] = task
            if task.provides is not None:
                if task.provides in providers or task.provides in self.inputs:
                    raise InvalidWorkflow(self.name, f"{task.provides!r} is provided twice")
                providers[task.provides] = task.name
        waits: dict[str, set[str]] = {name: set() for name in by_name}
        _edges(flow, frozenset(), waits)
        for task in tasks:
            for needed in task.requires:
                if needed in providers:
                    waits[task.name].add(providers[needed])
                elif needed not in self.inputs:
                    raise InvalidWorkflow(
                        self.name,
                        f"task {task.name!r} requires {needed!r}, which no task provides and is"
                        " not among the workflow's inputs",
                    )
        ordered: dict[str, tuple[Task, frozenset[str]]] = {}
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in ordered:
                return
            if name in visiting:
                raise InvalidWorkflow(self.name, f"task {name!r} waits for itself (a cycle)")
            visiting.add(name)
            for before in sorted(waits[name]):
                visit(before)
            visiting.discard(name)
            ordered[name] = (by_name[name], frozenset(waits[name]))

        for task in tasks:
            visit(task.name)
        return ordered
