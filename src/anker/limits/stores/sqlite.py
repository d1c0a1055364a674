"""``sqlite:///path/to/limits.db``: the embedded limits store, for one host.

Every process on the host that opens the file shares the quotas. A claim takes SQLite's write
lock up front (``BEGIN IMMEDIATE``), so checking and reserving is one step against every other
process; readers are never blocked (write-ahead logging). Lease expiry uses the host's wall
clock. Create the tables once with ``anker quota upgrade sqlite:///path/to/limits.db`` (or
``Quota.open(url, upgrade=True)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from anker.limits.stores._sql import SQLStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["SQLiteStore"]


class SQLiteStore(SQLStore):
    """Limits in a SQLite file; see the module docstring."""

    row_locks: ClassVar[bool] = False

    def engine_options(self) -> dict[str, object]:
        # a claim waits for the write lock as long as a call may take
        return {"sqlite_busy_timeout": self.settings.timeout}

    def begin_write(self, connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
