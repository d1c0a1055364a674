"""Fencing: how the store a lock protects refuses writes from a holder whose lease ran out.

A lease-based lock cannot stop a holder that was paused (a long GC, SIGSTOP, a VM migration)
from waking up after its lease ran out and writing while somebody else holds the lock: it does
not know yet that it lost. What can stop the write is the store, if every write carries the
writer's fencing token (``Lock.token``) and the store refuses a token smaller than the
largest it has already accepted for that resource. Tokens of a lock strictly increase from one
holder to the next, so the paused holder's token is smaller than its successor's::

    async with coordinator.lock("volume-42") as lock:
        async with db.transaction():
            await fencing.claim_postgres(db, "volume-42", lock.token)   # raises StaleToken
            await db.execute("UPDATE volumes SET ... WHERE id = 42")

The claim and the write must be in one transaction, so that a write either carries the newest
token or does not happen. :class:`Fence` does the same in memory, for a resource inside one
process.

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
import threading
from typing import Any, Protocol

from anker.coordination._errors import CoordinationError

__all__ = ["Fence", "StaleToken", "claim_postgres", "postgres_statements"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class StaleToken(CoordinationError):
    """A write carried a fencing token older than one the resource already accepted."""

    def __init__(self, resource: str, token: int, newest: int | None) -> None:
        self.resource = resource
        self.token = token
        self.newest = newest
        seen = f"token {newest} was already accepted" if newest is not None else "a newer token"
        super().__init__(f"{resource!r}: fencing token {token} is stale ({seen})")


class Fence:
    """The largest token accepted per resource, in memory (thread-safe)."""

    def __init__(self) -> None:
        self._newest: dict[str, int] = {}
        self._lock = threading.Lock()

    def claim(self, resource: str, token: int) -> None:
        """Accept ``token`` for ``resource`` or raise :class:`StaleToken`.

        A token equal to the newest is accepted again: one holder makes many writes.
        """
        with self._lock:
            newest = self._newest.get(resource)
            if newest is not None and token < newest:
                raise StaleToken(resource, token, newest)
            self._newest[resource] = token


def postgres_statements(table: str = "anker_fence") -> tuple[str, str]:
    """The two SQL statements of a PostgreSQL fence: create the table, and claim a token.

    The claim takes ``%(resource)s`` and ``%(token)s`` and returns a row only if the token was
    accepted (it is at least the newest one stored for the resource).
    """
    if _IDENTIFIER.fullmatch(table) is None:
        raise ValueError(f"fence table name {table!r} is not a plain SQL identifier")
    create = (
        f"CREATE TABLE IF NOT EXISTS {table} (resource text PRIMARY KEY, token bigint NOT NULL)"
    )
    claim = (
        f"INSERT INTO {table} AS fence (resource, token) VALUES (%(resource)s, %(token)s) "
        "ON CONFLICT (resource) DO UPDATE SET token = EXCLUDED.token "
        "WHERE fence.token <= EXCLUDED.token RETURNING token"
    )
    return create, claim


class _AsyncCursor(Protocol):
    async def fetchone(self) -> Any: ...


class _AsyncConnection(Protocol):
    async def execute(self, query: Any, params: Any = ...) -> Any: ...


async def claim_postgres(
    connection: _AsyncConnection, resource: str, token: int, *, table: str = "anker_fence"
) -> None:
    """Claim ``token`` for ``resource`` on a psycopg ``AsyncConnection``, in its current
    transaction; raise :class:`StaleToken` (and leave the rollback to the caller) if refused.

    The table must exist (see :func:`postgres_statements`).
    """
    _, claim = postgres_statements(table)
    cursor = await connection.execute(claim, {"resource": resource, "token": token})
    if await cursor.fetchone() is None:
        raise StaleToken(resource, token, None)
