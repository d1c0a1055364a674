"""The ``[database]`` option group: where the database is, and how anker.db talks to it."""

# No ``from __future__ import annotations``: the annotations stay objects, so anker.config
# resolves them although the class shows its public home, anker.db, whose namespace lacks them.
from datetime import timedelta

from anker._url import BackendURL
from anker.config import Group, option

__all__ = ["DatabaseOptions"]


class DatabaseOptions(Group):
    """The database a service uses, and how its connections are kept.

    Declare it on a service's :class:`~anker.config.Config` (``database: DatabaseOptions``),
    then ``anker.db.create_engine(conf.database)``. The password belongs in a reference,
    ``postgresql://svc:${secret:db-password}@db/svc``; the URL masks it wherever it is shown.
    """

    connection: BackendURL = option(
        schemes=["postgresql", "mysql", "mariadb", "sqlite"],
        help="URL of the database: postgresql://user:pass@host/db, mysql://..., "
        "mariadb://..., or sqlite:///path/to/file.db.",
    )
    pool_size: int = option(5, min=1, help="Connections the pool keeps open.")
    max_overflow: int = option(
        10, min=0, help="Connections opened beyond pool_size at a peak, closed after."
    )
    pool_recycle: timedelta = option(
        "1h", help="Replace a pooled connection older than this (0: never)."
    )
    pool_timeout: timedelta = option(
        "10s", min="1ms", help="How long to wait for a free connection of the pool."
    )
    pool_pre_ping: bool = option(
        False,
        help="Ping each connection when it leaves the pool. Costs a round trip per checkout;"
        " without it, a connection the server closed is replaced at checkout.",
    )
    connect_timeout: timedelta = option(
        "10s", min="1ms", help="How long opening a connection may take."
    )
    statement_timeout: timedelta = option(
        "60s", help="How long one statement may run (0: no limit)."
    )
    max_retries: int = option(
        5,
        min=0,
        help="How many times a retrying unit of work runs again after a deadlock or a lost"
        " connection.",
    )
    sqlite_busy_timeout: timedelta = option(
        "5s", help="SQLite: how long to wait for a lock another connection holds."
    )
    sqlite_foreign_keys: bool = option(True, help="SQLite: enforce foreign keys.")
    sqlite_wal: bool = option(True, help="SQLite: write-ahead logging, so readers never block.")
    sqlite_create: bool = option(
        True,
        help="SQLite: create a missing database file (readable by its owner only; never a"
        " missing folder). Commands that only read pass false.",
    )
