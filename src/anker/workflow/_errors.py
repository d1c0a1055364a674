"""The errors of anker.workflow; each carries the facts a caller needs to act on it.

::

    WorkflowError
     ├── InvalidWorkflow      (also ValueError) a definition that cannot run (cycle, missing input)
     ├── RunNotFound          (also LookupError) no run with this id in the store
     ├── InvalidTransition    (also ValueError) a state change the state machine forbids
     ├── LeaseLost            another engine took the run over: this one must stop writing
     ├── TaskTimeout          (also TimeoutError) one attempt of a task ran past its timeout
     └── StoreUnavailable     (also anker.errors.Unavailable) the store did not answer

.. versionadded:: 0.1
"""

from __future__ import annotations

from anker.errors import AnkerError, Unavailable

__all__ = [
    "InvalidTransition",
    "InvalidWorkflow",
    "LeaseLost",
    "RunNotFound",
    "StoreUnavailable",
    "TaskTimeout",
    "WorkflowError",
]


class WorkflowError(AnkerError):
    """Something went wrong defining, storing or running a workflow."""


class InvalidWorkflow(WorkflowError, ValueError):
    """A workflow definition that cannot run: ``name`` says which, ``reason`` why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"workflow {name!r}: {reason}")


class RunNotFound(WorkflowError, LookupError):
    """The store holds no run ``run_id``."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no workflow run {run_id!r} in the store")


class InvalidTransition(WorkflowError, ValueError):
    """``what`` (a run, or one of its tasks) cannot go from ``current`` to ``wanted``."""

    def __init__(self, what: str, current: str, wanted: str) -> None:
        self.what = what
        self.current = current
        self.wanted = wanted
        super().__init__(f"{what} cannot go from {current} to {wanted}")


class LeaseLost(WorkflowError):
    """The engine's claim on run ``run_id`` (generation ``generation``) is no longer current:
    its lease ran out and another engine took the run over, so nothing this engine would
    write about the run is committed."""

    def __init__(self, run_id: str, generation: int) -> None:
        self.run_id = run_id
        self.generation = generation
        super().__init__(
            f"workflow run {run_id!r}: claim generation {generation} was taken over by another"
            " engine; this engine stopped running it"
        )


class TaskTimeout(WorkflowError, TimeoutError):
    """One attempt of task ``task`` ran longer than its ``timeout`` seconds."""

    def __init__(self, task: str, timeout: float) -> None:
        self.task = task
        self.timeout = timeout
        super().__init__(f"task {task!r} ran longer than its timeout of {timeout:g} s")


class StoreUnavailable(WorkflowError, Unavailable):
    """The workflow store at ``url`` did not answer ``operation``."""

    what = "workflow store"
