"""What the database benchmarks share: servers, tables, and the four sides of each workload.

Two workloads, each on PostgreSQL, MariaDB and SQLite: a primary-key read (``read``: one row by
its id, ids cycling over 1,000 rows) and a one-row insert-commit (``write``: a fresh id each
time). Every operation checks a connection out and opens its own transaction, as a service's
request does:

- anker: an engine from :func:`anker.db.create_engine` with its defaults, each operation a
  :func:`anker.db.retrying` unit of work (``engine.connect()`` to read, ``engine.begin()`` to
  write);
- oslo.db: its enginefacade with its defaults (``reader.connection`` / ``writer.connection``,
  a fresh request context per operation, as a service gets one per request);
- plain SQLAlchemy 2 on the same driver configured as anker configures it (the floor for
  anker's overhead, like with like; see :func:`same_settings`): the same pool (5 + 10
  overflow, recycle 1 h, 10 s checkout wait, no pre-ping), the same timeouts given the way a
  SQLAlchemy user gives them (PostgreSQL: ``connect_timeout=10``, TCP keepalives 10 s/3 s/3
  and ``tcp_user_timeout=10000``, ``options="-c statement_timeout=60000"``; MariaDB: PyMySQL's
  ``connect_timeout=10``, ``read_timeout=70``, ``write_timeout=70``, ``charset=utf8mb4`` and
  ``SET SESSION max_statement_time = 60`` on connect; SQLite: ``timeout=5``,
  ``check_same_thread=False`` and ``busy_timeout``, ``foreign_keys=ON``, WAL on connect), and
  no event handler for errors;
- plain SQLAlchemy 2 with the driver's and SQLAlchemy's defaults (no timeouts, SQLite's
  rollback journal): what the timeouts themselves cost;
- the raw driver (psycopg 3, PyMySQL, sqlite3) on one open connection: execute, fetch, then
  rollback (read) or commit (write), what the pool's reset and the commit cost, nothing else
  (the absolute floor).

The same table shape and rows for every side, each side its own table (on SQLite its own
file too: WAL would otherwise change the journal of the others), dropped afterwards.
Servers are the integration tests' (``ANKER_TEST_POSTGRES_URL``, ``ANKER_TEST_MARIADB_URL``);
a side whose server does not answer raises :class:`Unavailable`. oslo.db runs with its own
defaults (its pre-ping on every checkout, its SQLite pool), as it ships.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bench._harness import Benchmark, Measure, Measured, Side, Unavailable

#: rows a read cycles over
ROWS = 1000


@dataclass(frozen=True)
class Database:
    name: str
    #: environment variable and default of the server's anker URL (None: SQLite, a temp file)
    variable: str | None
    default: str | None
    #: SQLAlchemy's driver name, shared by the plain SQLAlchemy and oslo.db sides
    drivername: str
    #: the raw driver's module (the anchors' requirement)
    module: str
    #: the raw driver's placeholder
    placeholder: str


DATABASES = {
    "postgres": Database(
        "postgres",
        "ANKER_TEST_POSTGRES_URL",
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql+psycopg",
        "psycopg",
        "%s",
    ),
    "mariadb": Database(
        "mariadb",
        "ANKER_TEST_MARIADB_URL",
        "mysql://root@127.0.0.1:3306/test",
        "mysql+pymysql",
        "pymysql",
        "%s",
    ),
    "sqlite": Database("sqlite", None, None, "sqlite", "sqlite3", "?"),
}


@dataclass(frozen=True)
class Place:
    """Where one side's table lives: anker's URL and SQLAlchemy's for the same database."""

    anker_url: str
    sqlalchemy_url: str
    host: str
    port: int
    user: str
    password: str
    database: str
    #: SQLite: the file
    path: str | None = None


@contextlib.contextmanager
def place(database: Database) -> Iterator[Place]:
    """The server's address (checked to accept connections), or a fresh SQLite file."""
    if database.variable is None:
        folder = tempfile.mkdtemp(prefix="anker-bench-db-")
        path = os.path.join(folder, "bench.db")
        try:
            yield Place(f"sqlite://{path}", f"sqlite:///{path}", "", 0, "", "", "", path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    assert database.default is not None
    url = os.environ.get(database.variable, "").split(",")[0].strip() or database.default
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (5432 if database.name == "postgres" else 3306)
    try:
        with socket.create_connection((host, port), timeout=2.0):
            pass
    except OSError as exc:
        raise Unavailable(f"{database.name} is not reachable at {host}:{port}: {exc}") from exc
    user, password = parts.username or "", parts.password or ""
    name = parts.path.lstrip("/")
    credentials = user + (f":{password}" if password else "")
    yield Place(
        url,
        f"{database.drivername}://{credentials}@{host}:{port}/{name}",
        host,
        port,
        user,
        password,
        name,
    )


def unique_table(side: str) -> str:
    import uuid

    return f"_anker_bench_db_{side}_{uuid.uuid4().hex[:10]}"


def table_of(name: str) -> Any:
    from sqlalchemy import Column, Integer, MetaData, String, Table

    return Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(40), nullable=False),
        Column("value", Integer, nullable=False),
    )


def row(key: int) -> dict[str, Any]:
    return {"id": key, "name": f"row-{key}", "value": key * 7}


@contextlib.contextmanager
def bench_table(where: Place, side: str, rows: int) -> Iterator[Any]:
    """A fresh table holding ``rows`` rows, made (and dropped) through plain SQLAlchemy."""
    import sqlalchemy

    table = table_of(unique_table(side))
    engine = sqlalchemy.create_engine(where.sqlalchemy_url)
    try:
        table.metadata.create_all(engine)
        if rows:
            with engine.begin() as connection:
                connection.execute(sqlalchemy.insert(table), [row(key) for key in range(rows)])
        yield table
    finally:
        with contextlib.suppress(Exception):
            table.metadata.drop_all(engine)
        engine.dispose()


class Workload:
    """One side's operation, made from a table: ``read(key)`` or ``write(key)``."""

    def __init__(self, kind: str) -> None:
        if kind not in ("read", "write"):
            raise ValueError(f"unknown workload {kind!r}: read or write")
        self.kind = kind
        self.rows = ROWS if kind == "read" else 0

    def keys(self) -> Iterator[int]:
        """The ids to use: cycling over the rows (read), or new ones (write)."""
        return itertools.cycle(range(ROWS)) if self.kind == "read" else itertools.count()

    def measure(self, operation: Callable[[int], object], *, per_second: bool = True) -> Measure:
        """Operations per second (or, ``per_second=False``, microseconds per operation), with
        two extras: this process's CPU per operation (the client's own cost, which the
        servers' and other processes' share of the machine changes less than the wall time)
        and the Python function calls per operation (counted once, on the first measure,
        which the harness makes a warm-up: a figure no load on the machine changes)."""
        keys = self.keys()
        calls: list[float] = []

        def measure(count: int) -> float:
            if not calls:
                calls.append(calls_per_operation(operation, keys))
            began, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                operation(next(keys))
            wall = time.perf_counter() - began
            used = (time.process_time() - cpu) / count * 1e6
            value = count / wall if per_second else wall / count * 1e6
            return Measured(value, {"client CPU us/op": used, "Python calls/op": calls[0]})

        return measure


def calls_per_operation(
    operation: Callable[[int], object], keys: Iterator[int], count: int = 100
) -> float:
    """How many Python function calls (built-ins too) one operation makes, after a warm-up."""
    import cProfile
    import pstats

    for _ in range(20):
        operation(next(keys))
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(count):
        operation(next(keys))
    profile.disable()
    return float(pstats.Stats(profile).total_calls) / count


def statements(table: Any) -> tuple[Any, Any]:
    import sqlalchemy

    read = sqlalchemy.select(table.c.id, table.c.name, table.c.value).where(
        table.c.id == sqlalchemy.bindparam("id")
    )
    return read, sqlalchemy.insert(table)


def sqlalchemy_operation(
    workload: Workload,
    table: Any,
    connect: Callable[[], AbstractContextManager[Any]],
    begin: Callable[[], AbstractContextManager[Any]],
) -> Callable[[int], object]:
    """The operation through SQLAlchemy Core connections from ``connect``/``begin``."""
    read, insert = statements(table)
    if workload.kind == "read":

        def operation(key: int) -> object:
            with connect() as connection:
                return connection.execute(read, {"id": key}).one()

    else:

        def operation(key: int) -> object:
            with begin() as connection:
                connection.execute(insert, row(key))
            return None

    return operation


def anker_side(
    database: Database, workload: Workload
) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        from anker.db import create_engine, retrying

        with place(database) as where, bench_table(where, "anker", workload.rows) as table:
            engine = create_engine(where.anker_url)
            try:
                operation = retrying(
                    sqlalchemy_operation(workload, table, engine.connect, engine.begin)
                )
                yield workload.measure(operation)
            finally:
                engine.dispose()

    return opened


#: anker's defaults (anker.db.EngineSettings), written out for plain SQLAlchemy
CONNECT_TIMEOUT, STATEMENT_TIMEOUT, SQLITE_BUSY_TIMEOUT = 10, 60, 5
POOL = {"pool_size": 5, "max_overflow": 10, "pool_recycle": 3600, "pool_timeout": 10}


def same_settings(database: Database, engine_of: Callable[..., Any], url: str) -> Any:
    """A plain SQLAlchemy engine on ``url`` with anker's default pool and timeouts, given as
    a SQLAlchemy user gives them (connect arguments, a ``connect`` event), without anker."""
    from sqlalchemy import event

    pragmas: tuple[str, ...] = ()
    if database.name == "postgres":
        connect_args: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT,
            "keepalives_idle": 10,
            "keepalives_interval": 3,
            "keepalives_count": 3,
            "tcp_user_timeout": CONNECT_TIMEOUT * 1000,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT * 1000}",
        }
    elif database.name == "mariadb":
        wait = STATEMENT_TIMEOUT + CONNECT_TIMEOUT
        connect_args = {
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": wait,
            "write_timeout": wait,
            "charset": "utf8mb4",
        }
        pragmas = (f"SET SESSION max_statement_time = {STATEMENT_TIMEOUT}",)
    else:
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False}
        pragmas = (
            f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT * 1000}",
            "PRAGMA foreign_keys = ON",
            "PRAGMA journal_mode = WAL",
        )
    engine = engine_of(url, connect_args=connect_args, **POOL)

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        for statement in pragmas:
            cursor.execute(statement)
        cursor.close()

    return engine


def sqlalchemy_side(
    database: Database, workload: Workload, *, configured: bool
) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        import sqlalchemy

        side = "sqla" if configured else "sqld"
        with place(database) as where, bench_table(where, side, workload.rows) as table:
            if configured:
                engine = same_settings(database, sqlalchemy.create_engine, where.sqlalchemy_url)
            else:
                engine = sqlalchemy.create_engine(where.sqlalchemy_url)
            try:
                yield workload.measure(
                    sqlalchemy_operation(workload, table, engine.connect, engine.begin)
                )
            finally:
                engine.dispose()

    return opened


def oslo_side(
    database: Database, workload: Workload
) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        from oslo_db.sqlalchemy import enginefacade

        with place(database) as where, bench_table(where, "oslo", workload.rows) as table:
            facade = enginefacade.transaction_context()
            facade.configure(connection=where.sqlalchemy_url)
            reader = facade.reader.connection
            writer = facade.writer.connection

            # a fresh request context per operation, as a service has one per request
            def connect() -> AbstractContextManager[Any]:
                return reader.using(types.SimpleNamespace())

            def begin() -> AbstractContextManager[Any]:
                return writer.using(types.SimpleNamespace())

            try:
                yield workload.measure(sqlalchemy_operation(workload, table, connect, begin))
            finally:
                facade.dispose_pool()

    return opened


def raw_side(
    database: Database, workload: Workload
) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        with place(database) as where, bench_table(where, "raw", workload.rows) as table:
            connection = _raw_connect(database, where)
            mark = database.placeholder
            read = f"SELECT id, name, value FROM {table.name} WHERE id = {mark}"
            insert = f"INSERT INTO {table.name} (id, name, value) VALUES ({mark}, {mark}, {mark})"
            cursor = connection.cursor()
            if workload.kind == "read":

                def operation(key: int) -> object:
                    cursor.execute(read, (key,))
                    found = cursor.fetchone()
                    connection.rollback()  # what a pool's reset on return costs
                    if found is None:
                        raise RuntimeError(f"row {key} is missing")
                    return found

            else:

                def operation(key: int) -> object:
                    values = row(key)
                    cursor.execute(insert, (values["id"], values["name"], values["value"]))
                    connection.commit()
                    return None

            try:
                yield workload.measure(operation)
            finally:
                cursor.close()
                connection.close()

    return opened


def _raw_connect(database: Database, where: Place) -> Any:
    if database.name == "postgres":
        import psycopg

        return psycopg.connect(
            host=where.host,
            port=where.port,
            user=where.user,
            password=where.password or None,
            dbname=where.database,
        )
    if database.name == "mariadb":
        import pymysql

        return pymysql.connect(
            host=where.host,
            port=where.port,
            user=where.user,
            password=where.password,
            database=where.database,
            charset="utf8mb4",
        )
    import sqlite3

    assert where.path is not None
    return sqlite3.connect(where.path)


def benchmark(kind: str, database_name: str) -> Benchmark:
    """The benchmark ``db-KIND-DATABASE``: the four sides of one workload on one database."""
    database = DATABASES[database_name]
    workload = Workload(kind)
    what = {
        "read": "primary-key read (connection checkout, SELECT by id, reset)",
        "write": "one-row insert-commit (checkout, BEGIN, INSERT, COMMIT)",
    }[kind]
    driver = {"postgres": "psycopg 3", "mariadb": "PyMySQL", "sqlite": "sqlite3"}[database.name]
    return Benchmark(
        name=f"db-{kind}-{database.name}",
        description=f"{what} on {database.name}, ops/s",
        unit="ops/s",
        higher_is_better=True,
        sides=(
            Side(
                "anker (retrying)",
                anker_side(database, workload),
                is_anker=True,
                requires=("anker", "sqlalchemy", database.module),
            ),
            Side(
                "oslo.db enginefacade",
                oslo_side(database, workload),
                requires=("oslo_db", "sqlalchemy", database.module),
            ),
            Side(
                "SQLAlchemy, same settings",
                sqlalchemy_side(database, workload, configured=True),
                requires=("sqlalchemy", database.module),
            ),
            Side(
                "SQLAlchemy, defaults",
                sqlalchemy_side(database, workload, configured=False),
                requires=("sqlalchemy", database.module),
            ),
            Side(
                f"raw {driver} (floor)",
                raw_side(database, workload),
                requires=(database.module,),
            ),
        ),
        # short samples, many of them: the median then holds against the bursts of load
        # that other processes put on a small machine
        count=200 if kind == "read" else 100,
        smoke_count=5,
        reps=31,
    )
