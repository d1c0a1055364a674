"""What anker's own SQL stores (limits, workflow) share: their engine, their migrations run on
purpose, a probe, and calls bounded by the store's timeout.

A store mixes :class:`StoreTables` in before its driver base (``class SQLStore(StoreTables,
Store)``), names its migrations, version table and upgrade command, and calls
:meth:`~StoreTables.tables_init` from ``__init__``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from anker._engines.sqlite import file_path
from anker._live import forget
from anker.db._engine import create_engine
from anker.db._errors import DBError
from anker.db._migrations import Migrations, SchemaNotCurrent
from anker.db._probe import probe
from anker.db._retry import within
from anker.errors import Unavailable

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from anker._url import BackendURL

__all__ = ["UPGRADE_IN_CODE", "StoreTables"]

T = TypeVar("T")
#: how code runs a store's migrations, after the command that does (a CLI leaves it out)
UPGRADE_IN_CODE = " (or open it with upgrade=True)"


class StoreTables:
    """The tables of one of anker's stores in a SQL database (see the module docstring)."""

    #: where the store's Alembic migrations are ("package:folder")
    migrations_at: ClassVar[str]
    #: the store's own version table
    version_table: ClassVar[str]
    #: the command that upgrades the store ("anker quota", "anker workflow")
    upgrade_command: ClassVar[str]

    # given by the driver base the store derives from (with its ``unavailable`` class)
    url: BackendURL
    settings: Any

    @property
    def _unavailable(self) -> type[Unavailable]:
        found: type[Unavailable] = getattr(self, "unavailable")  # noqa: B009 (the driver's)
        return found

    def tables_init(self) -> None:
        # the store's own options stay out of the engine's way
        self._db_url = dataclasses.replace(self.url, query=MappingProxyType({}))
        self._engine: Engine | None = None
        # calls whose caller gave up still run in their thread: closing waits for them
        self._threads: set[asyncio.Future[Any]] = set()

    @property
    def connect_timeout(self) -> float:
        # opening checks (or, with upgrade=True, runs) the migrations: Alembic's import alone
        # can take seconds on a loaded machine; and a refused connection is retried for twice
        # the timeout (see _run), whose own error should be the one reported
        return float(self.settings.timeout) * 6

    def engine_options(self) -> dict[str, object]:
        """Options of :func:`anker.db.create_engine` for this store."""
        return {"statement_timeout": self.settings.timeout}

    @property
    def engine(self) -> Engine:
        """The store's SQLAlchemy engine (created on first use)."""
        if self._engine is None:
            self._engine = create_engine(self._db_url, **self.engine_options())
            forget(self._engine)  # the store's own health check covers its engine
            self.prepare_engine(self._engine)
        return self._engine

    def prepare_engine(self, engine: Engine) -> None:
        """Set up a new engine (event handlers) before its first connection."""

    def migrations(self) -> Migrations:
        """The store's migrations, on its engine."""
        return Migrations(self.engine, self.migrations_at, version_table=self.version_table)

    async def connect(self) -> None:
        # (a URL without a path is left to the engine, which names what is missing)
        if (
            self.url.scheme == "sqlite"
            and self.url.path.strip("/")
            and not getattr(self.settings, "create", True)
        ):
            path = file_path(self.url.path, str(self.url))
            if await asyncio.to_thread(path.is_dir):
                raise self._unavailable(
                    str(self.url), "connect", f"{path} is a folder, not a database file"
                )
            if not await asyncio.to_thread(path.is_file):
                raise self._unavailable(
                    str(self.url),
                    "connect",
                    f"no database at {path}: create it with "
                    f"`{self.upgrade_command} --url '{self.url}' upgrade`",
                )
        try:
            await self._run("connect", lambda: self.migrations().check())
        except SchemaNotCurrent as exc:
            error = SchemaNotCurrent(exc.current, exc.heads, self.version_table, exc.unknown)
            at = ", ".join(exc.current) or "no revision (an empty database)"
            if exc.unknown:  # written by a newer anker: an upgrade here cannot help
                error.args = (
                    f"the {self._unavailable.what} {self.url} is at {at}, which this anker "
                    f"does not know (its schema is at {', '.join(exc.heads)}): the store was "
                    f"written by a newer anker; use that release",
                )
            else:
                error.args = (
                    f"the {self._unavailable.what} {self.url} is at {at}; its schema is at "
                    f"{', '.join(exc.heads)}: run `{self.upgrade_command} --url '{self.url}' "
                    f"upgrade` once{UPGRADE_IN_CODE}",
                )
            raise error from None

    async def upgrade(self) -> None:
        await self._run("upgrade", lambda: self.migrations().upgrade())

    async def probe(self) -> None:
        # anker.db's probe: SELECT 1, bounded, a stale pooled connection replaced; not retried
        try:
            await asyncio.to_thread(probe, self.engine, timeout=self.settings.timeout)
        except DBError as exc:
            raise self._unavailable(str(self.url), "probe", _reason(exc)) from exc

    async def wait_threads(self) -> None:
        """Wait (a while) for the calls still running in their threads."""
        if self._threads:
            await asyncio.wait(self._threads, timeout=self.settings.timeout * 3)

    async def close_tables(self) -> None:
        """Wait (a while) for the calls still running, then close the engine's connections."""
        await self.wait_threads()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await asyncio.to_thread(engine.dispose)

    async def _run(
        self, operation: str, work: Callable[[], T], *, late: Callable[[T], object] | None = None
    ) -> T:
        """``work`` in a thread, a refused connection retried for twice the store's timeout,
        the whole bounded by three times it; database errors become ``unavailable``.

        A thread cannot be stopped: work that outlives the bound may still finish, after its
        caller was told it failed. ``late`` is then called (on the event loop) with what it
        returned, so the caller can undo what nobody was told of."""
        timeout = float(self.settings.timeout)
        future = asyncio.ensure_future(asyncio.to_thread(within(timeout * 2, work)))
        self._threads.add(future)
        future.add_done_callback(self._threads.discard)
        try:
            async with asyncio.timeout(timeout * 3):
                return await asyncio.shield(future)
        except TimeoutError as exc:
            future.add_done_callback(partial(_finished_late, late))
            raise self._unavailable(
                str(self.url), operation, f"no answer within {timeout * 3:g} s"
            ) from exc
        except SchemaNotCurrent:
            raise
        except DBError as exc:
            raise self._unavailable(str(self.url), operation, _reason(exc)) from exc


def _finished_late(late: Callable[[T], object] | None, future: asyncio.Future[T]) -> None:
    # the caller was told the call failed: an error the work raised since is retrieved here
    # (else asyncio logs "Task exception was never retrieved" with its traceback)
    if not future.cancelled() and future.exception() is None and late is not None:
        late(future.result())


def _reason(exc: DBError) -> str:
    reason = exc.reason if isinstance(exc, Unavailable) else str(exc)
    # one line: libpq adds a hint on a line of its own ("\n\tIs the server running ...")
    return " ".join(reason.split())
