"""Fixtures for a service's own tests: a database per test, a transaction rolled back after
each test, and models checked against migrations.

:func:`isolated_database` (:func:`isolated_database_async` for ``create_async_engine`` users)
gives a test a fresh, empty database of its own (a new database on the PostgreSQL or MariaDB
server a URL names, a new file for SQLite) and drops it afterwards.
:func:`rolled_back` (:func:`rolled_back_async`) gives a test a connection inside a transaction
and sessions joined to it through SAVEPOINTs, and rolls everything back at the end: cheaper
than a database per test, for a schema made once. :func:`schema_differences` and
:func:`assert_models_match_migrations` compare a service's SQLAlchemy models with the schema
its Alembic migrations make, as oslo.db's ``ModelsMigrationsSync`` does.

Only tests import this module, so it imports SQLAlchemy and Alembic at once;
``import anker.db`` does not import it.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, MetaData, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from anker._url import BackendURL
from anker.db._engine import _from_group, create_async_engine, create_engine
from anker.db._errors import DBError
from anker.db._migrations import DEFAULT_VERSION_TABLE, Migrations
from anker.db._options import DatabaseOptions
from anker.db._settings import parse_database_url

__all__ = [
    "RolledBack",
    "RolledBackAsync",
    "assert_models_match_migrations",
    "isolated_database",
    "isolated_database_async",
    "rolled_back",
    "rolled_back_async",
    "schema_differences",
]

#: every database :func:`isolated_database` makes is named this and 32 random hex digits
PREFIX = "anker_test_"


@contextmanager
def isolated_database(url: str | BackendURL) -> Iterator[BackendURL]:
    """A fresh, empty database for one test, dropped when the block ends (also when it
    raises); its URL is yielded, the password masked when shown (give it as it is to
    :func:`~anker.db.create_engine` or :class:`~anker.db.Migrations`).

    On PostgreSQL and MariaDB/MySQL it is ``CREATE DATABASE anker_test_<32 hex digits>`` on
    the server ``url`` names, through ``url``'s own database; the yielded URL is ``url`` with
    that database (the same user and options). Creating never reuses a database that exists,
    and dropping first closes the connections a test left open to it. The user needs:
    on PostgreSQL, ``CREATEDB`` (it owns what it creates, so it may drop it); on MariaDB/MySQL,
    ``CREATE`` and ``DROP`` on ``anker_test_%`` databases (``GRANT ALL ON `anker_test\\_%`.*``)
    and the rights its tests use inside them. On SQLite it is a new file in a temporary
    directory (``url``'s path is not used, only its options); no rights are needed.
    """
    parsed = parse_database_url(url)
    if parsed.scheme == "sqlite":
        with _sqlite_database(parsed) as found:
            yield found
        return
    name = PREFIX + uuid.uuid4().hex
    admin = create_engine(parsed, pool_size=1, max_overflow=0)
    try:
        with _autocommit(admin) as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield replace(parsed, path=f"/{name}")
        finally:
            with _autocommit(admin) as connection:
                _drop(connection, name)
    finally:
        admin.dispose()


@asynccontextmanager
async def isolated_database_async(url: str | BackendURL) -> AsyncIterator[BackendURL]:
    """As :func:`isolated_database`, for a test on an event loop: the database is created and
    dropped through :func:`~anker.db.create_async_engine` (psycopg's async connections,
    aiomysql, aiosqlite), so the loop is never blocked. Give the yielded URL to
    :func:`~anker.db.create_async_engine`."""
    parsed = parse_database_url(url)
    if parsed.scheme == "sqlite":
        with _sqlite_database(parsed) as found:
            yield found
        return
    name = PREFIX + uuid.uuid4().hex
    admin = create_async_engine(parsed, pool_size=1, max_overflow=0)
    try:
        async with admin.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield replace(parsed, path=f"/{name}")
        finally:
            async with admin.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.run_sync(_drop, name)
    finally:
        await admin.dispose()


@contextmanager
def _sqlite_database(url: BackendURL) -> Iterator[BackendURL]:
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    try:
        yield replace(url, path=str(folder / "test.db"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _autocommit(engine: Engine) -> Iterator[Connection]:
    # CREATE/DROP DATABASE cannot run inside a transaction on PostgreSQL
    with engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


def _drop(connection: Connection, name: str) -> None:
    """Drop database ``name``, closing the connections still open to it (a test's engine that
    was not disposed; on MariaDB an open transaction's locks would make the drop wait)."""
    if connection.dialect.name == "postgresql":
        if (connection.dialect.server_version_info or (0,)) >= (13,):
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            return
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        )
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        return
    rows = connection.execute(
        text(
            "SELECT ID FROM information_schema.PROCESSLIST"
            " WHERE DB = :name AND ID <> CONNECTION_ID()"
        ),
        {"name": name},
    )
    for (connection_id,) in rows.all():
        with suppress(DBError):  # it ended by itself meanwhile
            connection.execute(text(f"KILL {int(connection_id)}"))
    connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))


@dataclass(frozen=True)
class RolledBack:
    """What :func:`rolled_back` yields: ``connection``, inside the test's transaction, and
    ``sessions``, a ``sessionmaker`` whose sessions join that transaction through SAVEPOINTs
    (their ``commit()`` releases a savepoint, their ``rollback()`` returns to one)."""

    connection: Connection
    sessions: sessionmaker[Session]


@dataclass(frozen=True)
class RolledBackAsync:
    """What :func:`rolled_back_async` yields: an ``AsyncConnection`` and an
    ``async_sessionmaker``, as :class:`RolledBack`'s."""

    connection: AsyncConnection
    sessions: async_sessionmaker[AsyncSession]


@contextmanager
def rolled_back(engine: Engine) -> Iterator[RolledBack]:
    """A connection of ``engine`` inside a transaction, and sessions joined to it, for one
    test: whatever the test writes through them, committed or not, is rolled back when the
    block ends (SQLAlchemy 2's "joining a session into an external transaction" recipe).

    The code under test must use the connection or the sessions given (not ``engine``'s
    other connections, which do not see the uncommitted rows and may wait for their locks).
    The schema is made beforehand: on MariaDB/MySQL a ``CREATE`` or ``ALTER`` commits the
    transaction (PostgreSQL and SQLite roll DDL back too). On SQLite the transaction is begun
    explicitly, so that SAVEPOINTs nest in it (the sqlite3 module would otherwise let the
    first ``RELEASE`` commit).
    """
    with engine.connect() as connection:
        undo = _begin_explicitly(connection)
        transaction = connection.begin()
        try:
            if undo is not None:
                connection.exec_driver_sql("BEGIN")
            yield RolledBack(
                connection,
                sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            )
        finally:
            if transaction.is_active:
                transaction.rollback()
            if undo is not None:
                undo()


@asynccontextmanager
async def rolled_back_async(engine: AsyncEngine) -> AsyncIterator[RolledBackAsync]:
    """As :func:`rolled_back`, on an :class:`~sqlalchemy.ext.asyncio.AsyncEngine`."""
    async with engine.connect() as connection:
        undo = await connection.run_sync(_begin_explicitly)
        transaction = await connection.begin()
        try:
            if undo is not None:
                await connection.exec_driver_sql("BEGIN")
            yield RolledBackAsync(
                connection,
                async_sessionmaker(
                    bind=connection,
                    join_transaction_mode="create_savepoint",
                    expire_on_commit=False,
                ),
            )
        finally:
            if transaction.is_active:
                await transaction.rollback()
            if undo is not None:
                await connection.run_sync(lambda _: undo())


def _begin_explicitly(connection: Connection) -> Callable[[], None] | None:
    """On SQLite: stop the driver's own transaction handling (it begins only before a write
    and knows nothing of savepoints) until the returned function restores it; elsewhere
    None."""
    if connection.dialect.name != "sqlite":
        return None
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    before = dbapi_connection.isolation_level

    def restore() -> None:
        dbapi_connection.isolation_level = before

    dbapi_connection.isolation_level = None
    return restore


def schema_differences(
    database: str | BackendURL | Engine,
    metadata: MetaData,
    *,
    ignore_tables: Collection[str] = (DEFAULT_VERSION_TABLE,),
) -> list[str]:
    """How the schema of ``database`` (a URL or an engine) differs from ``metadata``'s
    models, one line per difference; empty when they match.

    Compared, by Alembic's ``compare_metadata``: tables, columns, their types (as Alembic
    compares them: a type the database reports in its own words, e.g. MariaDB's ``TINYINT(1)``
    for ``Boolean``, matches), nullability, indexes, unique constraints and foreign keys.
    Not compared: server defaults (each database reports them in its own text) and tables
    in ``ignore_tables`` (the migrations' version table).
    """
    ignored = set(ignore_tables)

    def include_name(name: str | None, kind: str, _parents: Any) -> bool:
        return not (kind == "table" and name in ignored)

    def compare(connection: Connection) -> list[str]:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_name": include_name},
        )
        found = compare_metadata(context, metadata)
        # a table added or removed whole is one difference, not one more per index on it
        whole = {diff[1].name for diff in found if diff[0] in ("add_table", "remove_table")}
        return [
            line
            for diff in found
            if not (isinstance(diff, tuple) and _table_of(diff) in whole)
            or diff[0] in ("add_table", "remove_table")
            for line in _describe(diff)
        ]

    if isinstance(database, Engine):
        with database.connect() as connection:
            return compare(connection)
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            return compare(connection)
    finally:
        engine.dispose()


def assert_models_match_migrations(migrations: Migrations, metadata: MetaData) -> None:
    """Upgrade a fresh :func:`isolated_database` on the server of ``migrations``' database to
    the head, and raise :class:`AssertionError` listing every :func:`schema_differences`
    between that schema and ``metadata`` (nothing when they match).

    A ``Migrations`` made without a database (``Migrations(None, scripts)``) is checked on
    SQLite; one made with an engine cannot be (its URL holds no credentials): give a URL.
    """
    where, options = _server_of(migrations)
    with isolated_database(where) as url:
        engine = create_engine(url, **options)
        try:
            fresh = Migrations(engine, migrations.directory, version_table=migrations.version_table)
            fresh.upgrade()
            found = schema_differences(engine, metadata, ignore_tables=(fresh.version_table,))
        finally:
            engine.dispose()
    if found:
        listed = "\n".join(f"  - {line}" for line in found)
        raise AssertionError(
            f"the models differ from the schema the migrations in {migrations.directory} make"
            f" ({url.scheme}, {len(found)} difference{'s' if len(found) > 1 else ''}):\n"
            f"{listed}"
        )


def _server_of(migrations: Migrations) -> tuple[str | BackendURL, dict[str, object]]:
    given: object = migrations._url
    options = dict(migrations._options)
    if given is None:
        return "sqlite:///anker-models-check.db", options
    if isinstance(given, DatabaseOptions):
        return given.connection, {**_from_group(given), **options}
    if isinstance(given, Engine):
        raise TypeError(
            "assert_models_match_migrations makes a database of its own on the server of"
            " the migrations' database: make the Migrations with a URL, not an engine"
        )
    assert isinstance(given, str | BackendURL)
    return given, options


def _describe(diff: Any) -> list[str]:
    """One of ``compare_metadata``'s differences, for a person: what the models have that
    the migrated schema has not ("in the models only"), and the other way round."""
    if isinstance(diff, list):  # a column's modifications come grouped
        return [line for one in diff for line in _describe(one)]
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return [f"table {diff[1].name}: {_side(kind)}"]
    if kind in ("add_column", "remove_column"):
        _, _schema, table, column = diff
        return [f"column {table}.{column.name} ({column.type}): {_side(kind)}"]
    if kind.endswith(("_index", "_constraint", "_fk")) and kind.startswith(("add", "remove")):
        return [_describe_constraint(kind, diff[1])]
    if kind.startswith("modify_"):
        _, _schema, table, column, _existing, migrated, models = diff
        what = kind.removeprefix("modify_")
        return [
            f"column {table}.{column}: {what} changed: {_shown(migrated)} in the migrated"
            f" schema, {_shown(models)} in the models"
        ]
    return [f"{kind}: {diff[1:]!r}"]  # a kind Alembic added later: shown as it is


def _describe_constraint(kind: str, found: Any) -> str:
    """An index's, a unique constraint's or a foreign key's difference."""
    if kind.endswith("_index"):
        columns = ", ".join(str(expression.name) for expression in found.expressions)
        what = "unique index" if found.unique else "index"
        table = found.table.name
    else:
        columns = ", ".join(column.name for column in found.columns)
        what = "foreign key" if kind.endswith("_fk") else "unique constraint"
        table = found.parent.name if kind.endswith("_fk") else found.table.name
    name = f" {found.name}" if found.name else ""
    return f"{what}{name} on {table}({columns}): {_side(kind)}"


def _table_of(diff: tuple[Any, ...]) -> str | None:
    """The table an index's or a constraint's difference is on."""
    if diff[0] in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        return str(diff[1].table.name)
    if diff[0] in ("add_fk", "remove_fk"):
        return str(diff[1].parent.name)
    return None


def _side(kind: str) -> str:
    if kind.startswith("add"):
        return "added in the models, not made by the migrations"
    return "removed from the models, still made by the migrations"


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "nullable" if value else "NOT NULL"
    return str(value)
