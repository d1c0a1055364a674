"""The errors of anker.db: one set of classes for every database, whatever its driver raised.

Every driver error that reaches a caller through an engine made by :func:`anker.db.create_engine`
is one of these, raised ``from`` the driver's own exception (so the traceback keeps it), with
the database's URL and the driver's message credentials masked::

    DBError                                 any other failure of a statement
     ├── DBConnectionError (also anker.errors.Unavailable)   refused, unreachable, lost
     │    ├── DBAccessDenied   wrong credentials, no such database (``transient`` False)
     │    └── DBPoolTimeout    no pooled connection came free in time (``transient`` False)
     ├── DBDeadlock        deadlocks, serialization failures, lock waits that timed out
     ├── DBConstraintError a foreign key, NOT NULL or CHECK constraint said no
     │    └── DBDuplicateEntry   a unique constraint said no (``.columns`` names them)
     └── DBDataError       a value that does not fit its column (too long, not a number)
"""

from __future__ import annotations

from anker.errors import AnkerError, Unavailable

__all__ = [
    "DBAccessDenied",
    "DBConnectionError",
    "DBConstraintError",
    "DBDataError",
    "DBDeadlock",
    "DBDuplicateEntry",
    "DBError",
    "DBPoolTimeout",
]


class DBError(AnkerError):
    """A database statement failed.

    ``url`` is the database's URL with its password masked, ``operation`` what was being done
    (``connect`` or ``execute``), ``reason`` the driver's error (type and message, credentials
    masked). The driver's exception is the ``__cause__``.
    """

    #: how the backend is named in the message
    what = "database"

    def __init__(self, url: str, operation: str, reason: str) -> None:
        self.url = url
        self.operation = operation
        self.reason = reason
        AnkerError.__init__(self, f"{self.what} {url}: {operation} failed: {reason}")


class DBConnectionError(DBError, Unavailable):
    """The database refused the connection, could not be reached, or the connection was lost
    (killed by the server, a restart, a network failure).

    The engine has dropped the connection (and every pooled connection older than it), so a
    unit of work run again gets a fresh one: :func:`anker.db.retrying` does that.

    ``transient`` says whether trying again can help: True for an outage (refused, lost, the
    server starting up or shutting down, too many connections), False for
    :class:`DBAccessDenied`.
    """

    #: whether trying again may succeed (:func:`anker.db.retrying` retries only these)
    transient: bool = True


class DBAccessDenied(DBConnectionError):
    """The server answered and turned this client away for good: wrong credentials, a user
    or host it does not know, a database that does not exist or may not be used (for SQLite:
    a file that cannot be opened while connecting). Trying again
    cannot help, so :func:`anker.db.retrying` does not (``transient`` is False)."""

    transient = False


class DBPoolTimeout(DBConnectionError):
    """Every connection of the engine's pool stayed in use for ``pool_timeout``: the pool is
    too small for the load (``pool_size`` plus ``max_overflow``), or connections are held too
    long (or leak: a connection never closed, a unit of work holding one while it waits for
    another). The database itself may be fine.

    ``pool_size``, ``max_overflow`` and ``pool_timeout`` (seconds) are the pool's. Not retried
    by :func:`anker.db.retrying` (``transient`` False): the wait was the retry, and waiting
    again only adds to the load that exhausted the pool.
    """

    transient = False

    def __init__(
        self,
        url: str,
        operation: str,
        reason: str,
        *,
        pool_size: int,
        max_overflow: int,
        pool_timeout: float,
    ) -> None:
        super().__init__(url, operation, reason)
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self.pool_timeout = pool_timeout


class DBDeadlock(DBError):
    """The database rolled back the transaction to break a deadlock, a serialization failure,
    or a lock wait that timed out ("database is locked" on SQLite). Running the whole unit of
    work again is the cure (:func:`anker.db.retrying` does that)."""


class DBConstraintError(DBError):
    """A constraint rejected the change: a foreign key, NOT NULL, CHECK or exclusion
    constraint (or, as :class:`DBDuplicateEntry`, a unique one).

    ``constraint`` is the constraint's name where the database tells it, else ``None``.
    """

    def __init__(
        self, url: str, operation: str, reason: str, *, constraint: str | None = None
    ) -> None:
        super().__init__(url, operation, reason)
        self.constraint = constraint


class DBDuplicateEntry(DBConstraintError):
    """A unique constraint (or the primary key) rejected a duplicate.

    ``columns`` are the columns of the constraint, as far as they can be found: PostgreSQL and
    SQLite say them; MariaDB/MySQL say only the key's name, which is matched against the
    table's constraints when the statement was built from SQLAlchemy's ``Table`` (else
    ``columns`` holds the key's name).
    """

    def __init__(
        self,
        url: str,
        operation: str,
        reason: str,
        *,
        columns: tuple[str, ...] = (),
        constraint: str | None = None,
    ) -> None:
        super().__init__(url, operation, reason, constraint=constraint)
        self.columns = columns


class DBDataError(DBError):
    """A value does not fit its column: too long, out of range, or not of the column's type."""
