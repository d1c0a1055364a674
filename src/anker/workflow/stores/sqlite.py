"""``sqlite:///path/to/workflows.db``: the embedded workflow store, for one host.

Every engine process on the host that opens the file shares the runs. A write takes SQLite's
write lock up front (``BEGIN IMMEDIATE``); readers are never blocked (write-ahead logging).
Leases use the host's wall clock. With ``?synchronous=normal`` (the default) a crash of the
process loses nothing; a power loss may forget the last transitions (the in-flight tasks then
run again, with the same idempotency keys); ``?synchronous=full`` syncs every transition. The
file is created when missing (``?create=false`` refuses), never its tables: create them once
with ``anker workflow --url sqlite:///path upgrade`` (or ``Engine.open(..., upgrade=True)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from anker._drivers import DriverSettings, setting
from anker.workflow._store import StoreSettings
from anker.workflow.stores._sql import SQLStore
from anker.workflow.stores._writes import FENCE, HISTORY, TASK, named

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["SQLiteStore", "SQLiteStoreSettings"]


@dataclass(frozen=True)
class SQLiteStoreSettings(StoreSettings):
    """The options of ``sqlite://``."""

    #: create the database file when it is missing (never its folder)
    create: bool = setting(True, help="create a missing database file (never its folder)")
    #: how a transition's commit reaches the disk
    synchronous: str = setting(
        "normal",
        choices=("normal", "full"),
        help="normal: a power loss may forget the last transitions; full: every commit is"
        " flushed to disk first",
    )


class SQLiteStore(SQLStore):
    """Workflow runs in a SQLite file; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = SQLiteStoreSettings
    settings: SQLiteStoreSettings
    row_locks: ClassVar[bool] = False
    now_sql: ClassVar[str] = "((julianday('now') - 2440587.5) * 86400.0)"
    write_sql: ClassVar[tuple[str, str, str]] = (named(FENCE), named(TASK), named(HISTORY))
    #: set before the first call by a caller that must not change the file (``anker workflow``
    #: on a store it did not create): the file's journal mode is left as it is, instead of
    #: being switched to write-ahead logging, which rewrites the header of a file that is not
    #: a workflow store (another application's database, an empty file); a store the
    #: migrations made is in that mode already
    keep_journal_mode: bool = False

    def engine_options(self) -> dict[str, object]:
        return {
            "sqlite_busy_timeout": self.settings.timeout,
            "sqlite_create": self.settings.create,
            "sqlite_wal": not self.keep_journal_mode,
        }

    def prepare_engine(self, engine: Engine) -> None:
        synchronous = self.settings.synchronous.upper()

        def on_connect(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.execute(f"PRAGMA synchronous = {synchronous}")

        sa.event.listen(engine, "connect", on_connect)

    def begin_write(self, connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
