"""``postgresql://user@host/db``: the limits store in PostgreSQL.

A claim locks the usage rows of its project and every ancestor (``SELECT ... FOR UPDATE``, in
one sorted order, so claims on overlapping paths queue instead of deadlocking), checks them
against the limits and updates them in one transaction. Lease expiry uses the server's clock,
the same for every client. Create the tables once with ``anker quota upgrade URL``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from anker.limits.stores._sql import SQLStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["PostgresStore"]


class PostgresStore(SQLStore):
    """Limits in PostgreSQL; see the module docstring."""

    def now(self, connection: Connection) -> float:
        return float(
            connection.execute(sa.text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one()
        )
