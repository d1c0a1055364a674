"""The engine: starts runs, drives them through their tasks, and takes over runs whose engine
died (claims with a lease, renewed while it runs them; every write fenced by the claim's
generation).

Driving a run: a PENDING run goes RUNNING; every task whose predecessors succeeded starts (so
parallel branches run at the same time); each attempt is one committed transition (PENDING or
RUNNING to RUNNING, with its attempt count), its end another (SUCCEEDED with its output, or
FAILED). When a task fails after its retries, when the run is cancelled or passes its
deadline, the tasks still running finish, and the run goes REVERTING: succeeded tasks are
reverted newest first, each with its task's retry policy; then REVERTED (or CANCELLED), or
FAILED when a revert still fails (an operator can resume it). A run taken over after a crash
continues where its store says it is: succeeded tasks never run again; a task the store shows
RUNNING (it was in flight) runs again, with the same idempotency key.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from anker._drivers import Backoff
from anker._url import BackendURL
from anker.workflow._errors import InvalidWorkflow, LeaseLost, WorkflowError
from anker.workflow._model import Workflow
from anker.workflow._run import Run
from anker.workflow._states import TERMINAL, State
from anker.workflow._store import STORE_GROUP, Change, RunInfo, Store, TaskInfo
from anker.workflow._tasks import Inflight, revert, run_tasks
from anker.workflow._versions import compatibility

if TYPE_CHECKING:
    import datetime as dt

    from anker.limits import ConcurrencyLimit

__all__ = ["Engine"]

log = logging.getLogger("anker.workflow")


class Engine:
    """Runs workflows durably on a store; open one with :meth:`open`.

    ``workflows`` are the definitions this engine runs (one version of each name): it takes
    over unfinished runs of those names only. ``lease`` is how long a claim on a run lasts
    without renewal (renewed every third of it): after a crash, another engine takes the run
    over once it ran out. ``poll`` is how often the engine looks for runs to take over;
    ``max_runs`` how many it drives at once. ``engine_id`` names the engine in the store
    (default: random): give a restarting service a stable one (its host and service name)
    and the restarted engine takes its runs back at once instead of after their lease; two
    live engines must never share one. ``concurrency`` (an :class:`anker.limits.ConcurrencyLimit`,
    keyed by workflow name) bounds how many runs of each workflow run at once, across every
    engine sharing its coordination backend: a run waits for a slot of its workflow before its
    first transition here, holding its claim, and keeps the slot until the engine lets it go.
    """

    def __init__(
        self,
        store: Store,
        workflows: Iterable[Workflow],
        *,
        lease: float = 30.0,
        poll: float = 1.0,
        max_runs: int = 100,
        engine_id: str | None = None,
        concurrency: ConcurrencyLimit | None = None,
    ) -> None:
        self.store = store
        self.concurrency = concurrency
        self.id = engine_id or uuid.uuid4().hex
        self.lease = lease
        self.poll = poll
        self.max_runs = max_runs
        self.workflows: dict[str, Workflow] = {}
        for workflow in workflows:
            if workflow.name in self.workflows:
                raise InvalidWorkflow(workflow.name, "given twice to one engine")
            self.workflows[workflow.name] = workflow
        if concurrency is not None:
            for name in self.workflows:  # a name coordination refuses fails here, not later
                concurrency.semaphore(name)
        self._plans = {name: workflow.tasks() for name, workflow in self.workflows.items()}
        #: per workflow: the tasks waiting for each task, and each task's place in the plan
        self._graphs: dict[str, tuple[dict[str, set[str]], dict[str, int]]] = {}
        for name, plan in self._plans.items():
            dependents: dict[str, set[str]] = {task: set() for task in plan}
            for task, (_, waits) in plan.items():
                for before in waits:
                    dependents[before].add(task)
            self._graphs[name] = (dependents, {task: i for i, task in enumerate(plan)})
        self._driving: dict[str, asyncio.Task[RunInfo | None]] = {}
        self._generations: dict[str, int] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: the last claim took all it could: more runs may be waiting
        self._backlog = False
        #: runs whose drive ended and that are being released
        self._letting_go: set[str] = set()
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str | BackendURL,
        workflows: Iterable[Workflow],
        *,
        upgrade: bool = False,
        recover: bool = True,
        lease: float = 30.0,
        poll: float = 1.0,
        max_runs: int = 100,
        engine_id: str | None = None,
        concurrency: ConcurrencyLimit | None = None,
        timeout: float | dt.timedelta | None = None,
        **options: object,
    ) -> Self:
        """Open the store ``url`` names (``sqlite:///path`` or ``postgresql://...``) and, with
        ``recover`` (the default), start taking over unfinished runs of ``workflows`` at once
        and every ``poll`` seconds. The store's tables are created by its migrations, run only
        when asked: ``upgrade=True`` here or ``anker workflow --url URL upgrade``; without
        them opening raises :class:`~anker.db.SchemaNotCurrent`."""
        from anker._drivers import open_driver

        if timeout is not None:
            options["timeout"] = timeout

        async def start(store: Store) -> None:
            if upgrade:
                await store.upgrade()
            await store.connect()

        store = await open_driver(STORE_GROUP, url, Store, options, start=start)
        try:
            engine = cls(
                store,
                workflows,
                lease=lease,
                poll=poll,
                max_runs=max_runs,
                engine_id=engine_id,
                concurrency=concurrency,
            )
        except BaseException:
            await store.aclose()
            raise
        if recover:
            try:
                # before any run starts here: runs held under this engine's id are a previous
                # process's, taken back at once (later claims never take this engine's own)
                await engine.recover(mine=True)
            except BaseException:
                await engine.aclose()
                raise
            engine._loop_task = asyncio.create_task(engine._serve(), name="anker.workflow")
        return engine

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Engine {self.store.url} id={self.id} runs={len(self._driving)}>"

    async def aclose(self) -> None:
        """Stop: runs being driven stop where they are and their claims are given up, so that
        another engine takes them over at once; then close the store."""
        if self._closed:
            return
        self._closed = True
        if self._loop_task is not None:
            # let a claim under way end (it gives back what it took) rather than abandon it:
            # committed after a cancel, it would hold its runs until their lease ran out
            self._wake.set()
            bound = float(self.store.settings.timeout) * 3 + 1  # a store call's longest
            done, _ = await asyncio.wait({self._loop_task}, timeout=bound)
            if not done:
                self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        driving = [
            (run_id, task, self._generations[run_id]) for run_id, task in self._driving.items()
        ]
        for _, task, _ in driving:
            task.cancel()
        for run_id, task, generation in driving:
            with contextlib.suppress(BaseException):
                await task
            with contextlib.suppress(WorkflowError):
                await self.store.release(run_id, generation)
        await self.store.aclose()

    # -- starting and following runs ------------------------------------------------------

    async def start(
        self,
        workflow: Workflow | str,
        inputs: Mapping[str, Any] | None = None,
        *,
        deadline: float | None = None,
        run_id: str | None = None,
        retry_of: str | None = None,
        drive: bool = True,
    ) -> str:
        """Store a new run of ``workflow`` with ``inputs`` (JSON values) and start driving it
        here; its id. ``deadline`` is in seconds from now: past it the run is cancelled
        (its tasks reverted). The run is durable once this returns. With ``drive=False`` it
        is left to whichever engine claims it first (see :meth:`submit`)."""
        name = workflow if isinstance(workflow, str) else workflow.name
        if name not in self.workflows:
            raise InvalidWorkflow(name, "this engine was not given this workflow")
        definition = self.workflows[name]
        given = dict(inputs or {})
        missing = sorted(set(definition.inputs) - set(given))
        if missing:
            raise InvalidWorkflow(name, f"a run needs the inputs {', '.join(missing)}")
        for key, value in given.items():  # refused here, not in the store, when not JSON
            try:
                json.dumps(value)
            except (TypeError, ValueError) as exc:
                raise InvalidWorkflow(name, f"input {key!r} is not JSON: {exc}") from exc
        run_id = run_id or uuid.uuid4().hex
        now = time.time()
        info = RunInfo(
            id=run_id,
            name=name,
            version=definition.version,
            state=State.PENDING,
            inputs=given,
            created=now,
            updated=now,
            deadline=None if deadline is None else now + deadline,
            retry_of=retry_of,
            graph={task: sorted(waits) for task, (_, waits) in self._plans[name].items()},
        )
        keys = {task: f"{run_id}:{task}" for task in self._plans[name]}
        generation = await self.store.create(info, keys, self.id if drive else None, self.lease)
        if not drive:
            self._wake.set()
            return run_id
        info = RunInfo(
            **{
                **info.__dict__,
                "tasks": {
                    task: TaskInfo(name=task, state=State.PENDING, key=key)
                    for task, key in keys.items()
                },
            }
        )
        self._spawn(info, generation)
        return run_id

    async def submit(
        self,
        workflow: Workflow | str,
        inputs: Mapping[str, Any] | None = None,
        *,
        deadline: float | None = None,
        run_id: str | None = None,
    ) -> str:
        """Store a new run for any engine sharing the store to claim (scale-out): the
        first one polling for work takes it; its id."""
        return await self.start(workflow, inputs, deadline=deadline, run_id=run_id, drive=False)

    async def run(
        self,
        workflow: Workflow | str,
        inputs: Mapping[str, Any] | None = None,
        *,
        deadline: float | None = None,
    ) -> RunInfo:
        """:meth:`start` a run and :meth:`wait` for its end."""
        return await self.wait(await self.start(workflow, inputs, deadline=deadline))

    async def wait(self, run_id: str, timeout: float | None = None) -> RunInfo:
        """The run once it ended (SUCCEEDED, REVERTED, CANCELLED or FAILED), wherever it runs;
        TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            backoff = Backoff(first=0.01, cap=min(1.0, self.poll))
            while True:
                task = self._driving.get(run_id)
                if task is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(task)
                info = await self.store.get(run_id)
                if info.state in TERMINAL:
                    return info
                await backoff.sleep()

    async def get(self, run_id: str) -> RunInfo:
        """The run as stored, with its tasks."""
        return await self.store.get(run_id)

    async def cancel(self, run_id: str) -> RunInfo:
        """Cancel a run: its running tasks finish, then its succeeded tasks are reverted and it
        ends CANCELLED (a run no task of which started ends CANCELLED at once; one whose last
        tasks were running, with none left to start, ends SUCCEEDED). A run that has ended is
        left as it is."""
        info = await self.store.request_cancel(run_id)
        self._wake.set()
        return info

    async def resume(self, run_id: str) -> RunInfo:
        """Give a FAILED run (a revert failed) back to the engines: its failed reverts are
        tried again. Also clears a reported problem, so that an engine tries the run again."""
        info = await self.store.resume(run_id)
        self._wake.set()
        return info

    async def retry(self, run_id: str) -> str:
        """Start a new run of a finished run's workflow with the same inputs; its id."""
        info = await self.store.get(run_id)
        if info.state not in TERMINAL:
            raise WorkflowError(f"workflow run {run_id} is {info.state}: only ended runs retry")
        return await self.start(info.name, info.inputs, retry_of=run_id)

    # -- taking runs over -----------------------------------------------------------------

    async def recover(self, *, mine: bool = False) -> int:
        """Claim every unfinished run this engine can take now and start driving it; how
        many (what the background loop does every ``poll`` seconds). With ``mine`` (what
        :meth:`open` does once, before any run starts), also the runs held under this
        engine's id: those of a previous process with the same ``engine_id``, taken back
        without waiting for their lease."""
        room = self.max_runs - len(self._driving)
        if room <= 0 or self._closed:
            return 0
        claimed = await self.store.claim(self.id, list(self.workflows), self.lease, room, mine=mine)
        if self._stopping():  # closed meanwhile: nobody will drive them, let another engine
            for run_id, generation in claimed:
                with contextlib.suppress(WorkflowError):
                    await self.store.release(run_id, generation)
            return 0
        # a full claim may have left runs behind: claim again as soon as a run ends
        self._backlog = len(claimed) == room
        for run_id, generation in claimed:
            self._spawn(run_id, generation)  # each drive loads its run: in parallel
        return len(claimed)

    def _stopping(self) -> bool:
        return self._closed  # a call: the type checker takes the field as unchanged by awaits

    async def _serve(self) -> None:
        renew_every = self.lease / 3
        renewed = time.monotonic()
        while not self._closed:
            try:
                if time.monotonic() - renewed >= renew_every and self._driving:
                    held = await self.store.renew(self.id, self.lease)
                    renewed = time.monotonic()
                    for run_id, task in list(self._driving.items()):
                        if run_id not in held and run_id not in self._letting_go:
                            log.warning("workflow run %s: lease lost; stopping it", run_id)
                            task.cancel()
                await self.recover()
            except WorkflowError as exc:
                log.warning("workflow engine %s: %s", self.id, exc)
            except Exception:  # the loop outlives any one failure; the next poll retries
                log.exception("workflow engine %s: recovery failed", self.id)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self.poll, renew_every)):
                    await self._wake.wait()
            self._wake.clear()  # before the work: a wake during it is not lost

    def _spawn(self, run: RunInfo | str, generation: int) -> None:
        """Drive ``run`` (a claimed run's id: its drive loads it first)."""
        run_id = run if isinstance(run, str) else run.id
        self._generations[run_id] = generation
        task = asyncio.create_task(self._claimed(run, generation), name=f"workflow {run_id}")
        self._driving[run_id] = task

        def done(finished: asyncio.Task[RunInfo | None]) -> None:
            if self._driving.get(run_id) is finished:
                del self._driving[run_id]
                self._generations.pop(run_id, None)
                self._letting_go.discard(run_id)
                if self._backlog:
                    self._wake.set()
            if not finished.cancelled() and finished.exception() is not None:
                log.warning("workflow run %s stopped: %s", run_id, finished.exception())

        task.add_done_callback(done)

    # -- driving a run --------------------------------------------------------------------

    async def _claimed(self, run: RunInfo | str, generation: int) -> RunInfo | None:
        info = await self.store.get(run) if isinstance(run, str) else run
        if self.concurrency is None or info.name not in self.workflows:
            return await self._drive(info, generation)
        async with self.concurrency.slot(info.name):  # waits as long as it takes
            return await self._drive(info, generation)

    async def _drive(self, info: RunInfo, generation: int) -> RunInfo | None:
        workflow = self.workflows[info.name]
        renames, problem = compatibility(workflow, set(self._plans[info.name]), info)
        if problem is not None:
            log.error("workflow run %s: %s", info.id, problem)
            await self.store.release(info.id, generation, problem)
            return None
        if workflow.version != info.version:  # one fenced commit: the run is now this version
            graph = {task: sorted(waits) for task, (_, waits) in self._plans[info.name].items()}
            await self.store.migrate(info.id, generation, workflow.version, renames, graph)
            info = await self.store.get(info.id)
        run = Run(self, info, generation, workflow)
        try:
            if run.state is State.PENDING:
                if run.cancel:
                    await run.move(State.CANCELLED, "cancelled")
                    return await self.store.get(run.id)
                await run.move(State.RUNNING)
            if run.state is State.RUNNING:
                reason = await self._forward(run)
                if reason is None:
                    await run.move(State.SUCCEEDED)
                else:
                    await run.move(State.REVERTING, reason)
            if run.state is State.REVERTING:
                failure = await revert(run)
                if failure is not None:
                    await run.move(State.FAILED, failure)
                elif run.cancel or run.late():
                    await run.move(
                        State.CANCELLED,
                        "deadline exceeded" if run.late() and not run.cancel else "cancelled",
                    )
                else:
                    await run.move(State.REVERTED)
        except LeaseLost as exc:
            log.warning("%s", exc)
            return None
        self._letting_go.add(run.id)  # no longer held: not a lost lease
        await self.store.release(run.id, run.generation)
        return await self.store.get(run.id)

    async def _forward(self, run: Run) -> str | None:
        """Run the tasks not yet succeeded; None, or why the run must revert.

        A task's success and the start of the tasks it made ready are one commit (each
        transition is still recorded, with its time): half the commits of a sequence."""
        failed = [
            name
            for name, task in run.tasks.items()
            if task.state is State.FAILED and task.succeeded is None
        ]
        if failed:  # the engine died between the task's failure and the run's
            return f"task {failed[0]!r} failed: {run.tasks[failed[0]].error}"
        started: set[str] = set()
        candidates: set[str] | None = None  # None: every task (the first round)
        inflight: Inflight = {}
        reason: str | None = None
        batch: list[Change] = []
        try:
            while True:
                reason = reason or run.stopped()
                if reason is not None and candidates is None:
                    # taken over already stopped: what the engine that died left running
                    # ends FAILED instead of RUNNING for ever in an ended run
                    batch.extend(
                        run.not_run(run.plan[name][0], interrupted=True)
                        for name, task in run.tasks.items()
                        if task.state is State.RUNNING
                    )
                ready = [] if reason is not None else run.ready(started, candidates)
                candidates = set()
                batch.extend(run.starting(task) for task in ready)
                if batch:
                    await run.write_all(batch)
                    batch = []
                if ready and run.stopped():  # learnt from that very commit
                    await run.write_all([run.not_run(task) for task in ready])
                    reason, ready = run.stopped(), []
                started.update(task.name for task in ready)
                outcomes = await run_tasks(run, ready, inflight)
                if outcomes is None:
                    return reason
                for name, (error, result, encoded) in outcomes:
                    if error is not None:
                        reason = reason or f"task {name!r} failed: {error}"
                        continue
                    batch.append(run.succeeded(run.plan[name][0], result, encoded))
                    candidates |= run.dependents[name]
        finally:
            for task_ in inflight:
                task_.cancel()
            for task_ in inflight:
                with contextlib.suppress(BaseException):
                    await task_
            if batch and not inflight:  # successes not yet committed (a failure elsewhere)
                await run.write_all(batch)
