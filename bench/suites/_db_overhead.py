"""What anker adds to a primary-key read through an ORM session: the session factory plus
error translation, against the same read without anker and against the raw driver.

One primary-key read per operation, ``session.get(Row, id)`` in a fresh session (its
identity map empty, so every get is a SELECT), ids cycling over 1,000 rows, on:

- anker: a ``sessionmaker`` bound to an engine from :func:`anker.db.create_engine` (its
  defaults; its ``handle_error`` hook translates driver errors, the timeouts are set);
- plain SQLAlchemy: the same ``sessionmaker`` on an engine configured as anker's is, without
  anker (``same_settings`` in ``_db.py``: the same pool, timeouts and pragmas), so the
  difference is anker's own layer;
- plain SQLAlchemy Core on the same engine (``connection.execute(select ...).one()``): what
  the ORM session itself costs, for scale;
- the raw driver (psycopg 3, PyMySQL, sqlite3) on one open connection: execute, fetch,
  rollback (the floor).

Microseconds per read (lower is better), with this process's CPU per read and the Python
function calls per read as extras.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from bench._harness import Benchmark, Measure, Measured, Side
from bench.suites._db import (
    DATABASES,
    Database,
    Workload,
    bench_table,
    place,
    raw_side,
    same_settings,
    sqlalchemy_operation,
)


def _session_read(engine: Any, table: Any) -> Callable[[int], object]:
    from sqlalchemy.orm import registry, sessionmaker

    row_class = type("Row", (), {})
    registry().map_imperatively(row_class, table)
    sessions = sessionmaker(bind=engine)

    def operation(key: int) -> object:
        with sessions() as session:
            found = session.get(row_class, key)
        if found is None:
            raise RuntimeError(f"row {key} is missing")
        return found

    return operation


def session_side(
    database: Database, workload: Workload, *, anker: bool, orm: bool = True
) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        import sqlalchemy

        side = "anko" if anker else ("sqlo" if orm else "sqlc")
        with place(database) as where, bench_table(where, side, workload.rows) as table:
            if anker:
                from anker.db import create_engine

                engine = create_engine(where.anker_url)
            else:
                engine = same_settings(database, sqlalchemy.create_engine, where.sqlalchemy_url)
            try:
                if orm:
                    operation = _session_read(engine, table)
                else:
                    operation = sqlalchemy_operation(workload, table, engine.connect, engine.begin)
                yield workload.measure(operation, per_second=False)
            finally:
                engine.dispose()

    return opened


def _raw(database: Database, workload: Workload) -> Callable[[], AbstractContextManager[Measure]]:
    """The raw driver side of ``_db.py``, its rate turned into microseconds per read."""
    opened_rate = raw_side(database, workload)

    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        with opened_rate() as rate:

            def measure(count: int) -> float:
                measured = rate(count)
                return Measured(1e6 / measured, getattr(measured, "extras", {}))

            yield measure

    return opened


def benchmark(database_name: str) -> Benchmark:
    """The benchmark ``db-overhead-DATABASE``."""
    database = DATABASES[database_name]
    workload = Workload("read")
    driver = {"postgres": "psycopg 3", "mariadb": "PyMySQL", "sqlite": "sqlite3"}[database.name]
    return Benchmark(
        name=f"db-overhead-{database.name}",
        description=(
            f"primary-key read through an ORM session (fresh session, session.get) on"
            f" {database.name}, microseconds per read"
        ),
        unit="us/read",
        higher_is_better=False,
        sides=(
            Side(
                "anker session",
                session_side(database, workload, anker=True),
                is_anker=True,
                requires=("anker", "sqlalchemy", database.module),
            ),
            Side(
                "SQLAlchemy session, same settings",
                session_side(database, workload, anker=False),
                requires=("sqlalchemy", database.module),
            ),
            Side(
                "SQLAlchemy Core, same settings",
                session_side(database, workload, anker=False, orm=False),
                requires=("sqlalchemy", database.module),
            ),
            Side(f"raw {driver} (floor)", _raw(database, workload), requires=(database.module,)),
        ),
        count=300,
        smoke_count=5,
        reps=21,
    )
