"""The SQL stores' one implementation (SQLite and PostgreSQL), on an :mod:`anker.db` engine.

Tables are created only by this package's Alembic migrations (``migrations/``, version table
``anker_limits_version``), run on purpose: ``anker quota --url URL upgrade`` or
``Quota.open(url, upgrade=True)``; opening a store whose schema is behind raises
:class:`~anker.db.SchemaNotCurrent` naming that command.

A claim here is one write transaction (SQLite takes its write lock up front with ``BEGIN
IMMEDIATE``): one read of the path, its limits and counters, one ``UPDATE ... RETURNING`` per
resource adding the amounts to the project's and its ancestors' counters, the check of the new
values against the limits (a refusal rolls the transaction back), and the insert of the
claim. The SQLite and PostgreSQL stores replace it with a batch of the claims that wait
together (group commit, :mod:`._combine`): SQLite checks them in Python inside one ``BEGIN
IMMEDIATE`` transaction, PostgreSQL in one call of a server-side function. Expired claims
are given back in a transaction of their own, when a claim would otherwise be refused.
Engine calls are synchronous SQLAlchemy, run in worker threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from anker._drivers import DriverSettings, setting
from anker.db._store_tables import StoreTables
from anker.limits._errors import (
    ClaimNotFound,
    InvalidTree,
    OverQuota,
    UnknownProject,
)
from anker.limits._model import ClaimInfo, Usage
from anker.limits._store import Store, StoreSettings
from anker.limits.stores._combine import Combiner
from anker.limits.stores._sql_rows import (
    _info,
    _minus,
    _zero,
    claims,
    defaults,
    give_back,
    limits,
    projects,
    read_lookup,
    usage,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from anker._drivers import DriverSettings
    from anker._url import BackendURL

__all__ = ["MIGRATIONS", "VERSION_TABLE", "SQLSettings", "SQLStore", "read_lookup"]

T = TypeVar("T")

MIGRATIONS = "anker.limits.stores:migrations"
VERSION_TABLE = "anker_limits_version"
#: expired claims given back per sweep (the rest at the next one)
SWEEP_BATCH = 500


@dataclass(frozen=True)
class SQLSettings(StoreSettings):
    """The options of every SQL limits store."""

    #: how a claim's commit reaches the disk
    synchronous: str = setting(
        "normal",
        choices=("normal", "full"),
        help="normal: a crash of the database host may forget the last claims (a recount "
        "repairs it); full: every commit is flushed to disk first",
    )


class SQLStore(StoreTables, Store):
    """The limits store in a SQL database; see the module docstring."""

    migrations_at: ClassVar[str] = MIGRATIONS
    version_table: ClassVar[str] = VERSION_TABLE
    upgrade_command: ClassVar[str] = "anker quota"

    settings_class: ClassVar[type[DriverSettings]] = SQLSettings
    settings: SQLSettings
    #: rows are locked by the statements that change them (PostgreSQL); SQLite locks the
    #: whole database for each write transaction
    row_locks: ClassVar[bool] = True

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        self.tables_init()
        # SQLite has one writer at a time: this process's writers queue here, on the event
        # loop, instead of in SQLite's busy handler (which sleeps up to 100 ms per wait)
        self._writes = None if self.row_locks else asyncio.Lock()
        #: the group commit of claims, where the store has one
        self.combiner: Combiner[Any] | None = None

    # -- plumbing -------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self.combiner is not None:
            await self.combiner.wait()
            # a claim batch still in its thread may commit late, and be given back then
            await self.wait_threads()
            await self.combiner.wait()
        await self.close_tables()

    async def _write(
        self,
        operation: str,
        work: Callable[[Connection], T],
        *,
        late: Callable[[T], object] | None = None,
    ) -> T:
        """``work`` in one write transaction (one at a time in this process, on SQLite);
        ``late`` as :meth:`_run` takes it."""
        if self._writes is None:
            return await self._run(operation, self._transaction(work), late=late)
        async with self._writes:
            return await self._run(operation, self._transaction(work), late=late)

    def _transaction(self, work: Callable[[Connection], T]) -> Callable[[], T]:
        """``work`` in one write transaction, committed unless it raises."""

        def run() -> T:
            with self.engine.connect() as connection:
                self.begin_write(connection)
                result = work(connection)
                connection.commit()
                return result

        return run

    def begin_write(self, connection: Connection) -> None:
        """Start a write transaction (SQLite takes its write lock here)."""
        connection.begin()

    #: inserts a pending claim stamped with the store's clock (``:now``, this host's, by
    #: default) and returns its created and expires stamps
    insert_claim: ClassVar[sa.TextClause] = sa.text(
        """
        INSERT INTO anker_limits_claims
            (id, project, path, resources, committed, created, expires, note)
        VALUES (:id, :project, :path, :resources, :committed, :now, :now + :lease, :note)
        RETURNING created, expires
        """
    )

    def now_expression(self) -> sa.ColumnElement[float]:
        """The store's clock, in seconds since the epoch, as SQL."""
        return sa.literal(time.time(), sa.Float)

    def _locked(self, select: sa.Select[Any]) -> sa.Select[Any]:
        return select.with_for_update() if self.row_locks else select

    def _insert_missing(
        self, connection: Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> None:
        """Insert the rows whose keys are missing (racing inserts of the same key wait)."""
        if rows:
            if connection.dialect.name == "postgresql":
                statement: Any = postgresql_dialect.insert(table).on_conflict_do_nothing()
            else:
                statement = sqlite_dialect.insert(table).on_conflict_do_nothing()
            connection.execute(statement, rows)

    # -- the tree -------------------------------------------------------------------------

    async def set_project(self, project: str, parent: str | None) -> None:
        def work(connection: Connection) -> None:
            if not self._known(connection, project):
                # a new project: its parent must exist, and no cycle can pass through a
                # project with no children; one row read, not the tree (an import of
                # thousands of projects read the whole tree for every one of them)
                if parent is not None and not self._known(connection, parent):
                    raise UnknownProject(parent)
                connection.execute(projects.insert().values(id=project, parent=parent))
                return
            tree = self._tree(connection)
            if parent is not None:
                if parent not in tree:
                    raise UnknownProject(parent)
                ancestor: str | None = parent
                while ancestor is not None:
                    if ancestor == project:
                        raise InvalidTree(f"project {project!r} under {parent!r}: a cycle")
                    ancestor = tree[ancestor]
            if tree[project] == parent:
                return
            subtree = self._descendants(tree, project) | {project}
            busy = connection.execute(
                sa.select(sa.func.count())
                .select_from(usage)
                .where(usage.c.project.in_(subtree), usage.c.used > 0)
            ).scalar_one()
            if busy:
                raise InvalidTree(
                    f"project {project!r} has usage in its subtree: release it before "
                    f"moving the project"
                )
            connection.execute(
                projects.update().where(projects.c.id == project).values(parent=parent)
            )
            self._rebuild_subtree(connection)

        await self._write("set_project", work)

    async def delete_project(self, project: str) -> None:
        def work(connection: Connection) -> None:
            tree = self._tree(connection)
            if project not in tree:
                raise UnknownProject(project)
            children = sorted(child for child, up in tree.items() if up == project)
            if children:
                raise InvalidTree(f"project {project!r} has children: {', '.join(children)}")
            held = connection.execute(
                sa.select(sa.func.count()).select_from(claims).where(claims.c.project == project)
            ).scalar_one()
            used = connection.execute(
                sa.select(sa.func.count())
                .select_from(usage)
                .where(usage.c.project == project, usage.c.used > 0)
            ).scalar_one()
            if held or used:
                raise InvalidTree(f"project {project!r} has claims or usage: release them first")
            for table in (usage, limits):
                connection.execute(table.delete().where(table.c.project == project))
            connection.execute(projects.delete().where(projects.c.id == project))

        await self._write("delete_project", work)

    async def projects(self) -> dict[str, str | None]:
        return await self._run("projects", self._read(self._tree))

    def _read(self, work: Callable[[Connection], T]) -> Callable[[], T]:
        def run() -> T:
            with self.engine.connect() as connection:
                return work(connection)

        return run

    @staticmethod
    def _known(connection: Connection, project: str) -> bool:
        """Whether the tree has ``project`` (one row read, not the tree)."""
        found = connection.execute(sa.select(projects.c.id).where(projects.c.id == project))
        return found.first() is not None

    @staticmethod
    def _tree(connection: Connection) -> dict[str, str | None]:
        return {row.id: row.parent for row in connection.execute(sa.select(projects))}

    @staticmethod
    def _descendants(tree: Mapping[str, str | None], project: str) -> set[str]:
        found: set[str] = set()
        frontier = {project}
        while frontier:
            frontier = {child for child, up in tree.items() if up in frontier} - found
            found |= frontier
        return found

    def _rebuild_subtree(self, connection: Connection) -> None:
        """Recompute every subtree counter from the own-usage counters (after a move)."""
        tree = self._tree(connection)
        rows = connection.execute(sa.select(usage.c.project, usage.c.resource, usage.c.used)).all()
        totals: dict[tuple[str, str], int] = {}
        for project, resource, used in rows:
            level: str | None = project
            while level is not None:
                totals[(level, resource)] = totals.get((level, resource), 0) + used
                level = tree.get(level)
        for project, resource, _ in rows:
            connection.execute(
                usage.update()
                .where(usage.c.project == project, usage.c.resource == resource)
                .values(subtree=totals.get((project, resource), 0))
            )

    # -- limits ---------------------------------------------------------------------------

    async def set_default(self, resource: str, limit: int | None) -> None:
        def work(connection: Connection) -> None:
            connection.execute(defaults.delete().where(defaults.c.resource == resource))
            if limit is not None:
                connection.execute(defaults.insert().values(resource=resource, hard_limit=limit))

        await self._write("set_default", work)

    async def defaults(self) -> dict[str, int]:
        def work(connection: Connection) -> dict[str, int]:
            return {r.resource: r.hard_limit for r in connection.execute(sa.select(defaults))}

        return await self._run("defaults", self._read(work))

    async def set_limit(self, project: str, resource: str, limit: int | None) -> None:
        def work(connection: Connection) -> None:
            if not self._known(connection, project):  # one row, not the tree
                raise UnknownProject(project)
            connection.execute(
                limits.delete().where(limits.c.project == project, limits.c.resource == resource)
            )
            if limit is not None:
                connection.execute(
                    limits.insert().values(project=project, resource=resource, hard_limit=limit)
                )

        await self._write("set_limit", work)

    async def limits(self) -> dict[str, dict[str, int]]:
        def work(connection: Connection) -> dict[str, dict[str, int]]:
            found: dict[str, dict[str, int]] = {}
            for row in connection.execute(sa.select(limits)):
                found.setdefault(row.project, {})[row.resource] = row.hard_limit
            return found

        return await self._run("limits", self._read(work))

    # -- claims ---------------------------------------------------------------------------

    async def claim(
        self, claim_id: str, project: str, resources: Mapping[str, int], lease: float, note: str
    ) -> ClaimInfo:
        try:
            return await self._claim_once(claim_id, project, resources, lease, note)
        except OverQuota:
            # expired reservations are given back lazily, when they could be in the way
            if not await self.sweep():
                raise
        return await self._claim_once(claim_id, project, resources, lease, note)

    async def _claim_once(
        self, claim_id: str, project: str, resources: Mapping[str, int], lease: float, note: str
    ) -> ClaimInfo:
        """One try of a claim (each store checks and reserves in its own way)."""
        raise NotImplementedError

    def _path(self, connection: Connection, project: str) -> list[str]:
        """``project`` and its ancestors, leaf first."""
        tree = self._tree(connection)
        if project not in tree:
            raise UnknownProject(project)
        path = [project]
        while (parent := tree[path[-1]]) is not None:
            path.append(parent)
        return path

    async def commit(self, claim_id: str) -> ClaimInfo:
        def work(connection: Connection) -> ClaimInfo:
            row = connection.execute(
                self._locked(sa.select(claims).where(claims.c.id == claim_id))
            ).first()
            if row is None:
                raise ClaimNotFound(claim_id)
            info = _info(row)
            if info.committed:
                return info
            for resource, amount in sorted(info.resources.items()):
                connection.execute(
                    usage.update()
                    .where(usage.c.project == info.project, usage.c.resource == resource)
                    .values(reserved=_minus(usage.c.reserved, amount))
                )
            connection.execute(
                claims.update().where(claims.c.id == claim_id).values(committed=True, expires=None)
            )
            return dataclasses.replace(info, committed=True, expires=None)

        return await self._write("commit", work)

    async def release(self, claim_id: str) -> ClaimInfo | None:
        def work(connection: Connection) -> ClaimInfo | None:
            row = connection.execute(
                self._locked(sa.select(claims).where(claims.c.id == claim_id))
            ).first()
            if row is None:
                return None
            info = _info(row)
            give_back(connection, [info], self._locked)
            return info

        return await self._write("release", work)

    async def claims(self, project: str | None = None) -> list[ClaimInfo]:
        def work(connection: Connection) -> list[ClaimInfo]:
            query = sa.select(claims).order_by(claims.c.created, claims.c.id)
            if project is not None:
                query = query.where(claims.c.project == project)
            return [_info(row) for row in connection.execute(query)]

        return await self._run("claims", self._read(work))

    async def expired(self) -> list[ClaimInfo]:
        def work(connection: Connection) -> list[ClaimInfo]:
            query = sa.select(claims).where(*self._lapsed()).order_by(claims.c.expires)
            return [_info(row) for row in connection.execute(query)]

        return await self._run("expired", self._read(work))

    def _lapsed(self) -> tuple[sa.ColumnElement[bool], ...]:
        """The conditions of a claim whose lease ran out, by the database's clock."""
        return claims.c.expires.is_not(None), claims.c.expires < self.now_expression()

    async def sweep(self) -> int:
        def expired(connection: Connection) -> bool:
            return (
                connection.execute(sa.select(claims.c.id).where(*self._lapsed()).limit(1)).first()
                is not None
            )

        def work(connection: Connection) -> int:
            query = (
                sa.select(claims)
                .where(*self._lapsed())
                .order_by(claims.c.expires)
                .limit(SWEEP_BATCH)
            )
            if self.row_locks:
                query = query.with_for_update(skip_locked=True)
            gone = [_info(row) for row in connection.execute(query)]
            give_back(connection, gone, self._locked)
            return len(gone)

        # a cheap read first: most claims find nothing to sweep and take no write lock
        if not await self._run("sweep", self._read(expired)):
            return 0
        return await self._write("sweep", work)

    # -- usage ----------------------------------------------------------------------------

    async def usage(self) -> list[Usage]:
        def work(connection: Connection) -> list[Usage]:
            tree = self._tree(connection)
            registered = {r.resource: r.hard_limit for r in connection.execute(sa.select(defaults))}
            own = {
                (r.project, r.resource): r.hard_limit for r in connection.execute(sa.select(limits))
            }
            counters = {(r.project, r.resource): r for r in connection.execute(sa.select(usage))}
            found = []
            for project in sorted(tree):
                names = (
                    set(registered)
                    | {r for p, r in own if p == project}
                    | {r for p, r in counters if p == project}
                )
                for resource in sorted(names):
                    row = counters.get((project, resource))
                    limit = own.get((project, resource), registered.get(resource, 0))
                    if row is None:
                        found.append(Usage(project, resource, 0, 0, 0, limit))
                    else:
                        found.append(
                            Usage(project, resource, row.used, row.reserved, row.subtree, limit)
                        )
            return found

        return await self._run("usage", self._read(work))

    async def adjust(self, project: str, resource: str, delta: int) -> int:
        def work(connection: Connection) -> int:
            path = self._path(connection, project)
            self._insert_missing(
                connection,
                usage,
                [_zero(level, resource) for level in path],
            )
            row = connection.execute(
                self._locked(
                    sa.select(usage).where(usage.c.project == project, usage.c.resource == resource)
                )
            ).one()
            change = max(delta, -(row.used - row.reserved))  # committed usage stays >= 0
            for level in sorted(path):
                values: dict[str, Any] = {"subtree": usage.c.subtree + change}
                if level == project:
                    values["used"] = usage.c.used + change
                connection.execute(
                    usage.update()
                    .where(usage.c.project == level, usage.c.resource == resource)
                    .values(**values)
                )
            return int(row.used - row.reserved + change)

        return await self._write("adjust", work)
