"""The contract of anker.db, on every database: engines, round trips, and every translated
error provoked for real (see db_support.py for how tests share the servers)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
    text,
    update,
)

from anker.db import (
    DBConnectionError,
    DBConstraintError,
    DBDataError,
    DBDeadlock,
    DBDuplicateEntry,
    DBError,
    create_async_engine,
    create_engine,
    retrying,
)
from anker.errors import AnkerError, Unavailable


def items(metadata: MetaData, prefix: str) -> Table:
    return Table(
        f"{prefix}_items",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("a", Integer, nullable=False),
        Column("b", String(5)),
        UniqueConstraint("a", "b", name=f"{prefix}_uq_ab"),
    )


def test_a_sync_engine_round_trips(database_url: str, metadata: MetaData, prefix: str) -> None:
    table = items(metadata, prefix)
    engine = create_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(table), [{"id": 1, "a": 1, "b": "x"}, {"id": 2, "a": 2, "b": None}]
        )
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.id, table.c.b).order_by(table.c.id)).all()
    assert [tuple(row) for row in rows] == [(1, "x"), (2, None)]
    engine.dispose()


async def test_an_async_engine_round_trips(
    database_url: str, metadata: MetaData, prefix: str
) -> None:
    table = items(metadata, prefix)
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(insert(table), [{"id": 1, "a": 1, "b": "x"}])
    async with engine.connect() as connection:
        assert (await connection.execute(select(table.c.b))).scalar_one() == "x"
    await engine.dispose()


def test_a_duplicate_names_the_columns_of_its_constraint(
    database_url: str, metadata: MetaData, prefix: str
) -> None:
    table = items(metadata, prefix)
    engine = create_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(table).values(id=1, a=1, b="x"))
    with pytest.raises(DBDuplicateEntry) as raised, engine.begin() as connection:
        connection.execute(insert(table).values(id=2, a=1, b="x"))
    assert raised.value.columns == ("a", "b")
    assert isinstance(raised.value, DBConstraintError)
    assert type(raised.value.__cause__).__name__ in ("UniqueViolation", "IntegrityError")
    with pytest.raises(DBDuplicateEntry) as raised, engine.begin() as connection:
        connection.execute(insert(table).values(id=1, a=5, b="y"))
    assert raised.value.columns == ("id",)
    engine.dispose()


async def test_an_async_engine_translates_errors_too(
    database_url: str, metadata: MetaData, prefix: str
) -> None:
    table = items(metadata, prefix)
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(insert(table).values(id=1, a=1, b="x"))
    with pytest.raises(DBDuplicateEntry) as raised:
        async with engine.begin() as connection:
            await connection.execute(insert(table).values(id=2, a=1, b="x"))
    assert raised.value.columns == ("a", "b")
    assert raised.value.__cause__ is not None
    await engine.dispose()


def test_a_foreign_key_violation_is_a_constraint_error(
    database_url: str, metadata: MetaData, prefix: str
) -> None:
    parent = Table(f"{prefix}_parent", metadata, Column("id", Integer, primary_key=True))
    child = Table(
        f"{prefix}_child",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("parent_id", Integer, ForeignKey(parent.c.id)),
    )
    engine = create_engine(database_url)
    metadata.create_all(engine)
    with pytest.raises(DBConstraintError) as raised, engine.begin() as connection:
        connection.execute(insert(child).values(id=1, parent_id=42))
    assert not isinstance(raised.value, DBDuplicateEntry)
    with engine.begin() as connection:  # and a parent still referenced cannot go
        connection.execute(insert(parent).values(id=1))
        connection.execute(insert(child).values(id=1, parent_id=1))
    with pytest.raises(DBConstraintError), engine.begin() as connection:
        connection.execute(parent.delete())
    engine.dispose()


def test_a_value_that_does_not_fit_is_a_data_error(
    database_url: str, metadata: MetaData, prefix: str
) -> None:
    engine = create_engine(database_url)
    name = f"{prefix}_data"
    sqlite = engine.dialect.name == "sqlite"  # a STRICT table checks types (and has no VARCHAR)
    columns = "n INTEGER, s TEXT) STRICT" if sqlite else "n INTEGER, s VARCHAR(3))"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {name} ({columns}"))
    Table(name, metadata)  # dropped at the end
    with pytest.raises(DBDataError), engine.begin() as connection:
        connection.execute(text(f"INSERT INTO {name} (n) VALUES ('not a number')"))
    if engine.dialect.name != "sqlite":  # SQLite has no length limits
        with pytest.raises(DBDataError), engine.begin() as connection:
            connection.execute(text(f"INSERT INTO {name} (s) VALUES ('too long')"))
    engine.dispose()


def test_any_other_failure_is_a_db_error(database_url: str) -> None:
    engine = create_engine(database_url)
    with pytest.raises(DBError) as raised, engine.connect() as connection:
        connection.execute(text("SELECT no_such_column FROM no_such_table"))
    assert type(raised.value) is DBError
    assert isinstance(raised.value, AnkerError)
    assert raised.value.operation == "execute"
    engine.dispose()


def _deadlock_tables(database_url: str, metadata: MetaData, prefix: str) -> Table:
    table = Table(
        f"{prefix}_rows",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("n", Integer),
    )
    engine = create_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(table), [{"id": 1, "n": 0}, {"id": 2, "n": 0}])
    engine.dispose()
    return table


def test_a_real_deadlock_is_a_deadlock(database_url: str, metadata: MetaData, prefix: str) -> None:
    table = _deadlock_tables(database_url, metadata, prefix)
    # SQLite has one writer: the second waits its busy timeout, then is told it is locked
    engine = create_engine(database_url, sqlite_busy_timeout="50ms")
    progress = threading.Condition()
    holding: set[int] = set()
    refused: set[int] = set()

    def cross(first: int, second: int) -> str:
        try:
            with engine.begin() as connection:
                connection.execute(update(table).where(table.c.id == first).values(n=first))
                with progress:
                    holding.add(first)
                    progress.notify_all()
                    # cross once the other holds its row, or was refused its first lock (SQLite)
                    assert progress.wait_for(
                        lambda: second in holding or second in refused, timeout=30
                    )
                connection.execute(update(table).where(table.c.id == second).values(n=first))
        except DBDeadlock as exc:
            with progress:
                refused.add(first)
                progress.notify_all()
            return "victim" if exc.__cause__ is not None else "victim, no cause"
        return "committed"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(cross, (1, 2), (2, 1)))
    assert outcomes == ["committed", "victim"]
    engine.dispose()


def test_a_deadlock_victim_is_retried_and_commits(
    database_url: str, metadata: MetaData, prefix: str
) -> None:
    table = _deadlock_tables(database_url, metadata, prefix)
    engine = create_engine(database_url, sqlite_busy_timeout="50ms")
    progress = threading.Condition()
    holding: set[int] = set()
    attempts: list[int] = []

    def met(first: int, second: int) -> bool:
        # PostgreSQL, MariaDB: the other holds its row, so crossing deadlocks. SQLite locks
        # the whole file: the other was refused and is retrying. Waiting on the other's
        # progress, not a clock, keeps this right on a loaded machine.
        return second in holding or attempts.count(second) >= 2

    @retrying(max_retries=10)
    def cross(first: int, second: int) -> None:
        with progress:
            attempts.append(first)
            progress.notify_all()
        with engine.begin() as connection:
            connection.execute(update(table).where(table.c.id == first).values(n=table.c.n + 1))
            with progress:
                holding.add(first)
                progress.notify_all()
                assert progress.wait_for(lambda: met(first, second), timeout=30)
            connection.execute(update(table).where(table.c.id == second).values(n=table.c.n + 1))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(cross, (1, 2), (2, 1)))
    with engine.connect() as connection:
        assert connection.execute(select(table.c.n).order_by(table.c.id)).scalars().all() == [2, 2]
    assert len(attempts) >= 3  # somebody was retried
    engine.dispose()


def test_an_unreachable_server_is_a_connection_error_within_the_connect_timeout(
    database_url: str,
) -> None:
    scheme = database_url.partition("://")[0]
    if scheme == "sqlite":
        url = "sqlite:///no/such/folder/test.db"  # never a missing folder
    else:
        url = f"{scheme}://user:s3cr3t-pw@127.0.0.1:1/db"
    engine = create_engine(url, connect_timeout="2s")
    with pytest.raises(DBConnectionError) as raised, engine.connect():
        pass
    assert isinstance(raised.value, Unavailable)
    assert raised.value.operation == "connect"
    assert "s3cr3t-pw" not in str(raised.value)
    assert "s3cr3t-pw" not in repr(raised.value.__cause__)
    engine.dispose()
