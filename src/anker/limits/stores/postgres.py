"""``postgresql://user@host/db``: the limits store in PostgreSQL.

A claim reads the project's path and limits (no locks), then adds its amounts to the usage rows
of the project and every ancestor in one ``UPDATE ... RETURNING`` (which locks them until the
transaction ends: a concurrent claim on an overlapping path waits, then sees this one's
amounts), checks the new values against the limits and inserts the claim, or rolls it all
back; a deadlock between two claims is retried. Lease expiry uses the server's clock,
the same for every client. Create the tables once with ``anker quota upgrade URL``.
"""

from __future__ import annotations

import sqlalchemy as sa

from anker.limits.stores._sql import SQLStore

__all__ = ["PostgresStore"]


class PostgresStore(SQLStore):
    """Limits in PostgreSQL; see the module docstring."""

    def now_expression(self) -> sa.ColumnElement[float]:
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
