"""The SQL workflow stores' one implementation (SQLite and PostgreSQL), on an anker.db engine.

Tables are created only by this package's Alembic migrations (``migrations/``, version table
``anker_workflow_version``), run on purpose: ``anker workflow --url URL upgrade`` or
``Engine.open(url, ..., upgrade=True)``; opening a store whose schema is behind raises
:class:`~anker.db.SchemaNotCurrent` naming that command.

Every write about a run is one transaction that starts with the *fence*: an ``UPDATE`` of the
run's row guarded by the writer's claim generation (a claim by another engine increments it,
so a writer that lost its lease changes nothing and rolls back). A task transition adds the
task's row and its history row: three statements, one commit (on PostgreSQL one statement in
autocommit; see ``_writes``). Claims take active runs that
no engine holds or whose lease ran out by the store's clock, with ``FOR UPDATE SKIP LOCKED``
on PostgreSQL (concurrent claimers never wait for each other) and under SQLite's write lock.
Engine calls are synchronous SQLAlchemy, run in worker threads.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import sqlalchemy as sa

from anker.db._store_tables import StoreTables
from anker.workflow._errors import InvalidTransition, LeaseLost, RunNotFound
from anker.workflow._states import ACTIVE, RUN_TRANSITIONS, State, check
from anker.workflow._store import (
    Change,
    Expectation,
    HistoryEntry,
    RunInfo,
    Store,
    StoreSettings,
    TaskInfo,
)
from anker.workflow.stores._writes import FENCE, HISTORY, TASK, Transition

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from anker._drivers import DriverSettings
    from anker._url import BackendURL

__all__ = ["MIGRATIONS", "VERSION_TABLE", "SQLStore"]

T = TypeVar("T")

MIGRATIONS = "anker.workflow.stores:migrations"
VERSION_TABLE = "anker_workflow_version"

_meta = sa.MetaData()
runs = sa.Table(
    "anker_workflow_runs",
    _meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("version", sa.Integer),
    sa.Column("state", sa.String(16)),
    sa.Column("inputs", sa.Text),
    sa.Column("graph", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("created", sa.Float),
    sa.Column("updated", sa.Float),
    sa.Column("deadline", sa.Float),
    sa.Column("cancel_requested", sa.Boolean),
    sa.Column("owner", sa.String(64)),
    sa.Column("generation", sa.Integer),
    sa.Column("lease_expires", sa.Float),
    sa.Column("problem", sa.Text),
    sa.Column("retry_of", sa.String(64)),
)
tasks = sa.Table(
    "anker_workflow_tasks",
    _meta,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("state", sa.String(16)),
    sa.Column("key", sa.String(300)),
    sa.Column("attempts", sa.Integer),
    sa.Column("output", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("started", sa.Float),
    sa.Column("finished", sa.Float),
    sa.Column("succeeded", sa.Float),
)
history = sa.Table(
    "anker_workflow_history",
    _meta,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("task", sa.String(200)),
    sa.Column("old", sa.String(16)),
    sa.Column("new", sa.String(16)),
    sa.Column("at", sa.Float),
    sa.Column("attempt", sa.Integer),
    sa.Column("error", sa.Text),
)
expected = sa.Table(
    "anker_workflow_expected",
    _meta,
    sa.Column("resource", sa.String(200), primary_key=True),
    sa.Column("expected", sa.Text),
    sa.Column("updated", sa.Float),
    sa.Column("observed", sa.Text),
    sa.Column("checked", sa.Float),
    sa.Column("drifted", sa.Boolean),
    sa.Column("repair_run", sa.String(64)),
)

_ACTIVE = tuple(sorted(state.value for state in ACTIVE))


def _run_info(row: Any, task_rows: Sequence[Any] = ()) -> RunInfo:
    return RunInfo(
        id=row.id,
        name=row.name,
        version=row.version,
        state=State(row.state),
        inputs=json.loads(row.inputs),
        graph=json.loads(row.graph),
        created=row.created,
        updated=row.updated,
        error=row.error,
        deadline=row.deadline,
        cancel_requested=bool(row.cancel_requested),
        owner=row.owner,
        generation=row.generation,
        lease_expires=row.lease_expires,
        problem=row.problem,
        retry_of=row.retry_of,
        tasks={
            task.name: TaskInfo(
                name=task.name,
                state=State(task.state),
                key=task.key,
                attempts=task.attempts,
                output=None if task.output is None else json.loads(task.output),
                error=task.error,
                started=task.started,
                finished=task.finished,
                succeeded=task.succeeded,
            )
            for task in task_rows
        },
    )


class SQLStore(StoreTables, Store):
    """The workflow store in a SQL database; see the module docstring."""

    migrations_at: ClassVar[str] = MIGRATIONS
    version_table: ClassVar[str] = VERSION_TABLE
    upgrade_command: ClassVar[str] = "anker workflow"

    settings_class: ClassVar[type[DriverSettings]] = StoreSettings
    #: PostgreSQL locks rows; SQLite locks the database for each write transaction
    row_locks: ClassVar[bool] = True
    #: the step path's statements (fence, task, history) in the driver's parameter style
    write_sql: ClassVar[tuple[str, str, str]] = (FENCE, TASK, HISTORY)
    #: the store's clock in seconds since the epoch, as SQL
    now_sql: ClassVar[str] = "extract(epoch FROM clock_timestamp())"

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        self.tables_init()
        # SQLite has one writer at a time: this process's writers queue here, on the loop
        self._writes = None if self.row_locks else asyncio.Lock()
        now = self.now_sql
        lock = " FOR UPDATE SKIP LOCKED" if self.row_locks else ""
        claim = f"""
            UPDATE anker_workflow_runs
            SET owner = :owner, generation = generation + 1, lease_expires = {now} + :lease
            WHERE id IN (
                SELECT id FROM anker_workflow_runs
                WHERE state IN :active AND problem IS NULL AND name IN :names
                  AND (owner IS NULL OR lease_expires < {now}{{mine}})
                ORDER BY created LIMIT :limit{lock}
            )
            RETURNING id, generation
            """
        lists: tuple[sa.BindParameter[Any], ...] = (
            sa.bindparam("active", expanding=True),
            sa.bindparam("names", expanding=True),
        )
        self._claim_sql = sa.text(claim.format(mine="")).bindparams(*lists)
        # a restarted engine with the same id takes its own runs back without waiting
        self._reclaim_sql = sa.text(claim.format(mine=" OR owner = :owner")).bindparams(*lists)
        self._renew_sql = sa.text(
            f"""
            UPDATE anker_workflow_runs SET lease_expires = {now} + :lease
            WHERE owner = :owner
            RETURNING id
            """
        )
        self._lease_sql = sa.text(f"SELECT {now} + :lease")

    # -- plumbing -------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self.close_tables()

    async def _write(self, operation: str, work: Callable[[Connection], T]) -> T:
        """``work`` in one write transaction (one at a time in this process, on SQLite)."""

        def run() -> T:
            with self.engine.connect() as connection:
                self.begin_write(connection)
                result = work(connection)
                connection.commit()
                return result

        if self._writes is None:
            return await self._run(operation, run)
        async with self._writes:
            return await self._run(operation, run)

    async def _read(self, operation: str, work: Callable[[Connection], T]) -> T:
        def run() -> T:
            with self.engine.connect() as connection:
                return work(connection)

        return await self._run(operation, run)

    def begin_write(self, connection: Connection) -> None:
        """Start a write transaction (SQLite takes its write lock here)."""
        connection.begin()

    # -- engines' calls -------------------------------------------------------------------

    async def create(
        self, run: RunInfo, task_keys: dict[str, str], owner: str | None, lease: float
    ) -> int:
        def work(connection: Connection) -> int:
            expires = None
            if owner is not None:
                expires = connection.execute(self._lease_sql, {"lease": lease}).scalar_one()
            generation = 1 if owner is not None else 0
            connection.execute(
                runs.insert().values(
                    id=run.id,
                    name=run.name,
                    version=run.version,
                    state=State.PENDING.value,
                    inputs=json.dumps(run.inputs, sort_keys=True),
                    graph=json.dumps(run.graph),
                    created=run.created,
                    updated=run.created,
                    deadline=run.deadline,
                    cancel_requested=False,
                    owner=owner,
                    generation=generation,
                    lease_expires=expires,
                    retry_of=run.retry_of,
                )
            )
            connection.execute(
                tasks.insert(),
                [
                    {
                        "run_id": run.id,
                        "name": name,
                        "state": State.PENDING.value,
                        "key": key,
                        "attempts": 0,
                    }
                    for name, key in task_keys.items()
                ],
            )
            connection.execute(
                history.insert().values(
                    run_id=run.id,
                    task=None,
                    old=None,
                    new=State.PENDING.value,
                    at=run.created,
                    attempt=0,
                )
            )
            return generation

        return await self._write("create", work)

    async def claim(
        self, owner: str, names: Sequence[str], lease: float, limit: int, mine: bool = False
    ) -> list[tuple[str, int]]:
        if not names:
            return []
        parameters = {
            "owner": owner,
            "names": list(names),
            "lease": lease,
            "limit": limit,
            "active": list(_ACTIVE),
        }

        def work(connection: Connection) -> list[tuple[str, int]]:
            statement = self._reclaim_sql if mine else self._claim_sql
            rows = connection.execute(statement, parameters).all()
            return [(row.id, row.generation) for row in rows]

        return await self._write("claim", work)

    async def renew(self, owner: str, lease: float) -> set[str]:
        # every run it holds, active or just ended (not yet released): a run missing here
        # was taken over
        parameters = {"owner": owner, "lease": lease}

        def work(connection: Connection) -> set[str]:
            return {row.id for row in connection.execute(self._renew_sql, parameters)}

        return await self._write("renew", work)

    async def write(self, run_id: str, generation: int, changes: Sequence[Change]) -> bool:
        transition = Transition(run_id, generation, changes)
        if self._writes is None:
            return await self._run("write", self.transition_work(transition))
        async with self._writes:
            return await self._run("write", self.transition_work(transition))

    def transition_work(self, transition: Transition) -> Callable[[], bool]:
        """The fenced write of ``transition`` (see ``_writes``), for a worker thread."""

        def run() -> bool:
            with self.engine.connect() as connection:
                self.begin_write(connection)
                cancel = transition.apply(connection, *self.write_sql)
                connection.commit()
                return cancel

        return run

    async def migrate(
        self,
        run_id: str,
        generation: int,
        version: int,
        renames: dict[str, str],
        graph: dict[str, list[str]],
    ) -> None:
        now = time.time()
        fence_sql = (
            runs.update()
            .where(runs.c.id == run_id, runs.c.generation == generation)
            .values(updated=now, version=version, graph=json.dumps(graph))
            .returning(runs.c.id)
        )

        def work(connection: Connection) -> None:
            if connection.execute(fence_sql).scalar() is None:
                connection.rollback()
                raise LeaseLost(run_id, generation)
            # through temporary names, so that swapped names never collide

            def rename(old: str, new: str) -> None:
                for table, column in ((tasks, tasks.c.name), (history, history.c.task)):
                    connection.execute(
                        table.update()
                        .where(table.c.run_id == run_id, column == old)
                        .values({column.name: new})
                    )

            for old in renames:
                rename(old, f"~{old}")
            for old, new in renames.items():
                rename(f"~{old}", new)

        await self._write("migrate", work)

    async def release(self, run_id: str, generation: int, problem: str | None = None) -> None:
        statement = (
            runs.update()
            .where(runs.c.id == run_id, runs.c.generation == generation)
            .values(owner=None, lease_expires=None, problem=problem)
        )
        await self._write("release", lambda connection: connection.execute(statement))

    # -- operators' calls -----------------------------------------------------------------

    async def get(self, run_id: str) -> RunInfo:
        def work(connection: Connection) -> RunInfo:
            row = connection.execute(sa.select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                raise RunNotFound(run_id)
            task_rows = connection.execute(sa.select(tasks).where(tasks.c.run_id == run_id)).all()
            return _run_info(row, task_rows)

        return await self._read("get", work)

    async def runs(self, states: Sequence[State] = (), limit: int = 100) -> list[RunInfo]:
        query = sa.select(runs).order_by(runs.c.created.desc()).limit(limit)
        if states:
            query = query.where(runs.c.state.in_([state.value for state in states]))
        return await self._read(
            "runs", lambda connection: [_run_info(row) for row in connection.execute(query)]
        )

    async def history(self, run_id: str) -> list[HistoryEntry]:
        query = sa.select(history).where(history.c.run_id == run_id).order_by(history.c.seq)

        def work(connection: Connection) -> list[HistoryEntry]:
            return [
                HistoryEntry(
                    seq=row.seq,
                    run_id=row.run_id,
                    task=row.task,
                    old=None if row.old is None else State(row.old),
                    new=State(row.new),
                    at=row.at,
                    attempt=row.attempt,
                    error=row.error,
                )
                for row in connection.execute(query)
            ]

        return await self._read("history", work)

    def _locked_run(self, connection: Connection, run_id: str) -> Any:
        query = sa.select(runs).where(runs.c.id == run_id)
        if self.row_locks:
            query = query.with_for_update()
        row = connection.execute(query).first()
        if row is None:
            raise RunNotFound(run_id)
        return row

    async def request_cancel(self, run_id: str) -> RunInfo:
        def work(connection: Connection) -> RunInfo:
            row = self._locked_run(connection, run_id)
            state = State(row.state)
            now = time.time()
            if state is State.PENDING and row.owner is None:
                _move_run(
                    connection,
                    run_id,
                    state,
                    State.CANCELLED,
                    why="cancelled",
                    now=now,
                    cancel_requested=True,
                )
            elif state in ACTIVE:
                connection.execute(
                    runs.update().where(runs.c.id == run_id).values(cancel_requested=True)
                )
            return _run_info(self._locked_run(connection, run_id))

        return await self._write("cancel", work)

    async def resume(self, run_id: str) -> RunInfo:
        def work(connection: Connection) -> RunInfo:
            row = self._locked_run(connection, run_id)
            state = State(row.state)
            now = time.time()
            if row.problem is not None and state in ACTIVE:
                connection.execute(
                    runs.update().where(runs.c.id == run_id).values(problem=None, updated=now)
                )
            elif state is State.FAILED:
                check(f"workflow run {run_id}", RUN_TRANSITIONS, state, State.REVERTING)
                _move_run(
                    connection,
                    run_id,
                    state,
                    State.REVERTING,
                    why="resumed",
                    now=now,
                    owner=None,
                    lease_expires=None,
                    problem=None,
                )
            else:
                raise InvalidTransition(
                    f"workflow run {run_id}",
                    state.value,
                    "resumed (only FAILED runs, and runs with a reported problem, are resumed)",
                )
            return _run_info(self._locked_run(connection, run_id))

        return await self._write("resume", work)

    # -- expected states ------------------------------------------------------------------

    async def set_expected(self, resource: str, state: Any) -> None:
        def work(connection: Connection) -> None:
            connection.execute(expected.delete().where(expected.c.resource == resource))
            if state is not None:
                connection.execute(
                    expected.insert().values(
                        resource=resource,
                        expected=json.dumps(state, sort_keys=True),
                        updated=time.time(),
                        drifted=False,
                    )
                )

        await self._write("expect", work)

    async def expectations(self, drifted_only: bool = False) -> list[Expectation]:
        query = sa.select(expected).order_by(expected.c.resource)
        if drifted_only:
            query = query.where(expected.c.drifted.is_(True))

        def work(connection: Connection) -> list[Expectation]:
            return [
                Expectation(
                    resource=row.resource,
                    expected=json.loads(row.expected),
                    updated=row.updated,
                    observed=None if row.observed is None else json.loads(row.observed),
                    checked=row.checked,
                    drifted=bool(row.drifted),
                    repair_run=row.repair_run,
                )
                for row in connection.execute(query)
            ]

        return await self._read("expectations", work)

    async def observed(
        self, resource: str, observed: Any, drifted: bool, repair_run: str | None
    ) -> None:
        values: dict[str, Any] = {
            "observed": json.dumps(observed, sort_keys=True),
            "checked": time.time(),
            "drifted": drifted,
        }
        if repair_run is not None:
            values["repair_run"] = repair_run
        statement = expected.update().where(expected.c.resource == resource).values(**values)
        await self._write("observed", lambda connection: connection.execute(statement))


def _move_run(
    connection: Connection,
    run_id: str,
    old: State,
    new: State,
    *,
    why: str,
    now: float,
    **values: Any,
) -> None:
    """An operator's move of a run (cancel, resume): its new state and ``values``, a new
    claim generation (fencing out whatever engine held it), and the history row."""
    connection.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(state=new.value, generation=runs.c.generation + 1, updated=now, **values)
    )
    connection.execute(
        history.insert().values(
            run_id=run_id, task=None, old=old.value, new=new.value, at=now, attempt=0, error=why
        )
    )
