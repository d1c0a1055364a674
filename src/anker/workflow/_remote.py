"""Tasks run by remote workers over anker.messaging, with a dead worker noticed in seconds.

A worker process serves task functions (:class:`TaskWorker`, behind an ``RPCServer`` on a
topic); an engine elsewhere names them with :func:`remote`, which makes the ``execute`` and
``revert`` of a :class:`~anker.workflow.Task` RPC calls to whichever worker of the topic is
free. The calls ask for heartbeats: a worker that dies (SIGKILL, a lost host, a partition)
stops sending them, and the attempt fails with ``ServerUnresponsive`` within ``heartbeat``
seconds instead of at the call's timeout, so the task's retry policy sends it to another
worker, with the same idempotency key (taskflow's worker engine waits for a task of a dead
worker forever).

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from anker.workflow._errors import WorkflowError
from anker.workflow._model import ExecuteFn, RevertFn, Task, TaskContext

if TYPE_CHECKING:
    from anker.messaging import RequestContext, Target, Transport

__all__ = ["TaskWorker", "UnknownTask", "remote"]

#: the RPC namespace and version of a task worker's endpoint
_NAMESPACE, _VERSION = "anker.workflow.worker", "1.0"


class UnknownTask(WorkflowError):
    """The worker that took the call does not serve this task (a deployment mismatch)."""


class TaskWorker:
    """The RPC endpoint of a worker: runs the ``execute`` and ``revert`` of ``tasks`` (by
    name) for engines elsewhere::

        worker = TaskWorker([Task("boot", boot, power_off)])
        async with RPCServer(transport, Target(topic="compute-workers"), [worker]):
            ...  # until the process stops; run as many as wanted, on as many hosts

    A task function gets the same :class:`~anker.workflow.TaskContext` (run id, task name,
    idempotency key, attempt) as it would in the engine's process.
    """

    def __init__(self, tasks: Iterable[Task]) -> None:
        self.tasks: dict[str, Task] = {}
        for task in tasks:
            if task.name in self.tasks:
                raise ValueError(f"TaskWorker: task {task.name!r} given twice")
            self.tasks[task.name] = task

    def __repr__(self) -> str:
        return f"<TaskWorker {sorted(self.tasks)}>"

    @property
    def target(self) -> Target:
        """The RPC namespace and version the engines' calls name."""
        from anker.messaging import Target

        return Target(namespace=_NAMESPACE, version=_VERSION)

    def _task(self, name: str) -> Task:
        task = self.tasks.get(name)
        if task is None:
            raise UnknownTask(f"this worker serves {sorted(self.tasks)}, not task {name!r}")
        return task

    async def execute(
        self, context: RequestContext, task: str, ctx: dict[str, Any], inputs: dict[str, Any]
    ) -> Any:
        """Run task ``task``'s execute with ``inputs``."""
        return await self._task(task).execute(TaskContext(**ctx), **inputs)

    async def revert(
        self,
        context: RequestContext,
        task: str,
        ctx: dict[str, Any],
        result: Any,
        inputs: dict[str, Any],
    ) -> None:
        """Run task ``task``'s revert with its result and ``inputs``."""
        undo = self._task(task).revert
        if undo is None:
            raise UnknownTask(f"task {task!r} has no revert on this worker")
        await undo(TaskContext(**ctx), result, **inputs)


def remote(
    transport: Transport,
    topic: str,
    *,
    heartbeat: float = 5.0,
    timeout: float = 3600.0,
    revert: bool = True,
    task: str | None = None,
) -> tuple[ExecuteFn, RevertFn | None]:
    """The ``execute`` and ``revert`` of a task run by the :class:`TaskWorker` processes
    serving ``topic``: ``Task("boot", *remote(transport, "compute-workers"), ...)``.

    ``heartbeat`` is how soon a dead worker is noticed (the call fails with
    ``ServerUnresponsive``, which the task's retry policy retries, on another worker); the
    worker sends one every ``heartbeat / 2`` seconds, and (oslo.messaging's rule, which
    anker's servers keep) never more often than every second, so it is 2 s at least;
    ``timeout`` bounds one attempt however alive the worker is. ``task`` names the worker's
    task when it differs from the engine's; ``revert=False`` gives no revert.
    """
    from anker.messaging import RequestContext, RPCClient, Target

    if heartbeat < 2:
        raise ValueError(f"remote(): heartbeat must be at least 2 seconds, not {heartbeat}")
    client = RPCClient(
        transport,
        Target(topic=topic, namespace=_NAMESPACE, version=_VERSION),
        timeout=timeout,
        call_monitor_timeout=heartbeat,
    )

    def where(ctx: TaskContext) -> dict[str, Any]:
        return {"run_id": ctx.run_id, "task": ctx.task, "key": ctx.key, "attempt": ctx.attempt}

    async def execute(ctx: TaskContext, **inputs: Any) -> Any:
        name = task or ctx.task
        return await client.call(
            RequestContext(), "execute", task=name, ctx=where(ctx), inputs=inputs
        )

    async def undo(ctx: TaskContext, result: Any, **inputs: Any) -> None:
        name = task or ctx.task
        await client.call(
            RequestContext(), "revert", task=name, ctx=where(ctx), result=result, inputs=inputs
        )

    return execute, (undo if revert else None)
