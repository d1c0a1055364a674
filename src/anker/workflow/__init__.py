"""anker.workflow: durable workflows of idempotent tasks, with retry and revert, resumed after
a crash, on SQLite or shared by many engines on PostgreSQL.

::

    from anker.workflow import Engine, Task, Workflow, sequence

    async def reserve(ctx: TaskContext, size: int) -> str:
        return await quota.reserve(size, idempotency_key=ctx.key)

    create = Workflow("create-server", sequence(
        Task("reserve", reserve, revert=unreserve, requires=("size",), provides="reservation"),
        Task("boot", boot, requires=("reservation",)),
    ), inputs=("size",))

    async with await Engine.open("sqlite:///var/lib/svc/workflows.db", [create]) as engine:
        run = await engine.run(create, {"size": 4})

Every state change of a run and of its tasks is committed before the engine moves on; a run
whose engine died is taken over by another (or by the same after a restart) once its lease
ran out. See ``docs/workflow.md``.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker.workflow._engine import Engine
from anker.workflow._errors import (
    InvalidTransition,
    InvalidWorkflow,
    LeaseLost,
    RunNotFound,
    StoreUnavailable,
    TaskTimeout,
    WorkflowError,
)
from anker.workflow._model import (
    Flow,
    Retry,
    Task,
    TaskContext,
    Workflow,
    graph,
    parallel,
    sequence,
)
from anker.workflow._reconcile import Drift, Reconciler
from anker.workflow._remote import TaskWorker, UnknownTask, remote
from anker.workflow._states import State
from anker.workflow._store import Expectation, HistoryEntry, RunInfo, TaskInfo

__all__ = [
    "Drift",
    "Engine",
    "Expectation",
    "Flow",
    "HistoryEntry",
    "InvalidTransition",
    "InvalidWorkflow",
    "LeaseLost",
    "Reconciler",
    "Retry",
    "RunInfo",
    "RunNotFound",
    "State",
    "StoreUnavailable",
    "Task",
    "TaskContext",
    "TaskInfo",
    "TaskTimeout",
    "TaskWorker",
    "UnknownTask",
    "Workflow",
    "WorkflowError",
    "graph",
    "parallel",
    "remote",
    "sequence",
]

show_public_paths(__name__, globals(), __all__)
