"""``sqlite:///path/to/limits.db``: the embedded limits store, for one host.

Every process on the host that opens the file shares the quotas. A claim takes SQLite's write
lock up front (``BEGIN IMMEDIATE``), so checking and reserving is one step against every other
process; readers are never blocked (write-ahead logging). Lease expiry uses the host's wall
clock. With ``?synchronous=normal`` (the default) a commit is synced to disk at the next
checkpoint: a crash of the service loses nothing, a power loss may forget the last claims (a
recount repairs that); ``?synchronous=full`` syncs every claim (one fsync each). Create the
tables once with ``anker quota --url sqlite:///path/to/limits.db upgrade`` (or
``Quota.open(url, upgrade=True)``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from anker._drivers import DriverSettings, setting
from anker.limits._errors import StoreUnavailable
from anker.limits.stores._sql import SQLSettings, SQLStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["SQLiteStore", "SQLiteStoreSettings"]


@dataclass(frozen=True)
class SQLiteStoreSettings(SQLSettings):
    """The options of ``sqlite://``."""

    #: create the database file when it is missing (never its folder)
    create: bool = setting(True, help="create a missing database file (never its folder)")


class SQLiteStore(SQLStore):
    """Limits in a SQLite file; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = SQLiteStoreSettings
    settings: SQLiteStoreSettings
    row_locks: ClassVar[bool] = False

    def engine_options(self) -> dict[str, object]:
        # a claim waits for the write lock as long as a call may take
        return {
            "sqlite_busy_timeout": self.settings.timeout,
            "sqlite_create": self.settings.create,
        }

    async def connect(self) -> None:
        path = Path(self.url.path)
        if not self.settings.create and not await asyncio.to_thread(path.is_file):
            raise StoreUnavailable(
                str(self.url),
                "connect",
                f"no database at {path}: create it with `anker quota --url '{self.url}' upgrade`",
            )
        await super().connect()

    def prepare_engine(self, engine: Engine) -> None:
        synchronous = self.settings.synchronous.upper()

        def on_connect(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.execute(f"PRAGMA synchronous = {synchronous}")

        sa.event.listen(engine, "connect", on_connect)

    def begin_write(self, connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
