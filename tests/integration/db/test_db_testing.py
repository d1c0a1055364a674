"""anker.db.testing on every database: isolated databases (sync and async), transactions
rolled back after a test, models against migrations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, MetaData, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from anker import Secret
from anker._url import BackendURL, parse_url
from anker.db import DBDuplicateEntry, Migrations, create_async_engine, create_engine
from anker.db.testing import (
    PREFIX,
    assert_models_match_migrations,
    isolated_database,
    isolated_database_async,
    rolled_back,
    rolled_back_async,
    schema_differences,
)

SHOP = Path(__file__).resolve().parents[2] / "data" / "migrations" / "shop"


def table_names(url: str | BackendURL) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def databases(database_url: str) -> set[str]:
    """The databases on ``database_url``'s server that :func:`isolated_database` made."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                rows = connection.execute(text("SELECT datname FROM pg_database"))
            else:
                rows = connection.execute(text("SHOW DATABASES"))
            return {name for (name,) in rows if name.startswith(PREFIX)}
    finally:
        engine.dispose()


def shop_models(
    *, extra_column: bool = False, without_table: bool = False, email: sa.types.TypeEngine[str]
) -> MetaData:
    metadata = MetaData()
    if without_table:
        return metadata
    columns = [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("email", email, nullable=True),
    ]
    if extra_column:
        columns.append(sa.Column("phone", sa.String(40), nullable=True))
    table = sa.Table("shop_customers", metadata, *columns)
    sa.Index("shop_customers_email", table.c.email, unique=True)
    return metadata


# -- isolated databases --------------------------------------------------------------------


def test_an_isolated_database_is_empty_and_its_own(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE outside_table (id INTEGER PRIMARY KEY)"))
        with isolated_database(database_url) as first, isolated_database(database_url) as second:
            assert first != second
            assert table_names(first) == []
            assert table_names(second) == []
            writer = create_engine(first)
            try:
                with writer.begin() as connection:
                    connection.execute(text("CREATE TABLE only_here (id INTEGER PRIMARY KEY)"))
            finally:
                writer.dispose()
            assert table_names(first) == ["only_here"]
            assert table_names(second) == []
        assert "only_here" not in table_names(database_url)
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE outside_table"))
        engine.dispose()


def fail_inside(
    database_url: str, made: list[BackendURL], writers: list[Engine], opened: list[Connection]
) -> None:
    """Fail inside an isolated database, leaving connections open to it (one in the pool,
    one inside a transaction), as a failing test may."""
    with isolated_database(database_url) as url:
        made.append(url)
        writers.append(writer := create_engine(url))
        with writer.begin() as connection:
            connection.execute(text("CREATE TABLE left_open (id INTEGER PRIMARY KEY)"))
        opened.append(connection := writer.connect())
        connection.execute(text("INSERT INTO left_open VALUES (1)"))
        raise RuntimeError("the test failed")


def test_an_isolated_database_is_gone_afterwards_even_after_an_error(database_url: str) -> None:
    made: list[BackendURL] = []
    with isolated_database(database_url) as url:
        made.append(url)
        assert table_names(url) == []
    writers: list[Engine] = []
    opened: list[Connection] = []
    try:
        with pytest.raises(RuntimeError, match="the test failed"):
            fail_inside(database_url, made, writers, opened)
    finally:
        for connection in opened:
            connection.invalidate()  # closed from the server's side: no rollback to send
        for writer in writers:
            writer.dispose()
    assert made[0] != made[1]
    for url in made:
        if url.scheme == "sqlite":
            assert not Path(url.path).parent.exists()
        else:
            assert url.path.lstrip("/").startswith(PREFIX)
            assert url.path.lstrip("/") not in databases(database_url)


def test_the_isolated_url_keeps_the_options_and_masks_the_password(database_url: str) -> None:
    given = parse_url(database_url)
    if given.scheme == "postgresql":  # trust authentication: a password is not checked
        given = replace(
            given,
            endpoints=(replace(given.endpoints[0], password=Secret("hunter2-secret")),),
        )
    with_options = replace(given, query={"connect_timeout": ("7s",)})
    with isolated_database(with_options) as url:
        assert url.param("connect_timeout") == "7s"
        assert "hunter2" not in repr(url)
        assert "hunter2" not in str(url)


# -- models against migrations -------------------------------------------------------------


def test_matching_models_and_migrations_pass(database_url: str) -> None:
    # a database of its own, so that no other test's tables (another checkout's run on the
    # same server, say) can be mistaken for a migration that escaped
    with isolated_database(database_url) as url:
        migrations = Migrations(url, SHOP, version_table="shop_version")
        assert_models_match_migrations(migrations, shop_models(email=sa.String(120)))
        # nothing was migrated in the database the URL names itself
        assert table_names(url) == []


@pytest.mark.parametrize(
    ("models", "named"),
    [
        (
            {"extra_column": True, "email": sa.String(120)},
            "column shop_customers.phone (VARCHAR(40)): added in the models, not made by"
            " the migrations",
        ),
        (
            {"without_table": True, "email": sa.String(120)},
            "table shop_customers: removed from the models, still made by the migrations",
        ),
        ({"email": sa.String(200)}, "column shop_customers.email: type changed: VARCHAR(120)"),
    ],
    ids=["extra-column", "missing-table", "changed-type"],
)
def test_models_that_differ_fail_naming_the_difference(
    database_url: str, models: dict[str, object], named: str
) -> None:
    migrations = Migrations(database_url, SHOP, version_table="shop_version")
    with pytest.raises(AssertionError) as raised:
        assert_models_match_migrations(migrations, shop_models(**models))  # type: ignore[arg-type]
    message = str(raised.value)
    assert named in message, message
    assert "1 difference)" in message, message


def test_schema_differences_compares_a_database_as_it_is(database_url: str) -> None:
    with isolated_database(database_url) as url:
        migrations = Migrations(url, SHOP, version_table="shop_version")
        migrations.upgrade("0002")
        migrations.dispose()
        found = schema_differences(url, shop_models(email=sa.String(120)), ignore_tables=())
    assert found == [
        "table shop_version: removed from the models, still made by the migrations",
        "unique index shop_customers_email on shop_customers(email): added in the models,"
        " not made by the migrations",
    ], found


def test_migrations_without_a_database_are_checked_on_sqlite() -> None:
    assert_models_match_migrations(Migrations(None, SHOP), shop_models(email=sa.String(120)))
    with pytest.raises(AssertionError, match="type changed"):
        assert_models_match_migrations(Migrations(None, SHOP), shop_models(email=sa.Text()))


def test_migrations_on_an_engine_cannot_be_checked(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite://{tmp_path}/given.db")
    try:
        with pytest.raises(TypeError, match="make the Migrations with a URL, not an engine"):
            assert_models_match_migrations(Migrations(engine, SHOP), MetaData())
    finally:
        engine.dispose()


# -- isolated databases for async tests ----------------------------------------------------


async def async_table_names(url: BackendURL) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()


async def test_an_async_isolated_database_is_empty_its_own_and_dropped(database_url: str) -> None:
    async with (
        isolated_database_async(database_url) as first,
        isolated_database_async(database_url) as second,
    ):
        assert first != second
        engine = create_async_engine(first)
        left_open: AsyncConnection | None = None
        try:
            async with engine.begin() as connection:
                await connection.execute(text("CREATE TABLE only_here (id INTEGER PRIMARY KEY)"))
                await connection.execute(text("INSERT INTO only_here VALUES (1)"))
            left_open = await engine.connect()  # a test may leave one open: dropped anyway
            await left_open.execute(text("SELECT id FROM only_here"))
            assert await async_table_names(first) == ["only_here"]
            assert await async_table_names(second) == []
        finally:
            if left_open is not None:
                await left_open.invalidate()
            await engine.dispose()
    for url in (first, second):
        if url.scheme == "sqlite":
            assert not Path(url.path).parent.exists()
        else:
            assert url.path.lstrip("/").startswith(PREFIX)
            assert url.path.lstrip("/") not in databases(database_url)


# -- a transaction rolled back after each test ---------------------------------------------


def notes_table(metadata: MetaData, prefix: str = "") -> sa.Table:
    return sa.Table(
        f"{prefix}notes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("body", sa.String(40), nullable=False),
    )


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_everything_a_test_wrote_is_rolled_back(database_url: str, metadata: MetaData) -> None:
    notes = notes_table(metadata)
    engine = create_engine(database_url)
    try:
        metadata.create_all(engine)
        with rolled_back(engine) as test:
            test.connection.execute(notes.insert().values(id=1, body="through the connection"))
            with test.sessions() as session:  # the code under test commits its session
                session.execute(notes.insert().values(id=2, body="committed by a session"))
                session.commit()
            with test.sessions() as session:  # ... or rolls it back: only its own writes
                session.execute(notes.insert().values(id=3, body="rolled back by a session"))
                session.rollback()
                session.execute(notes.insert().values(id=4, body="after the rollback"))
                session.commit()
            with test.sessions() as session:
                seen = session.execute(sa.select(notes.c.id).order_by(notes.c.id)).scalars()
                assert seen.all() == [1, 2, 4]
        assert count(engine, notes) == 0
        # the connection went back to the pool as it was: a commit there is one
        with engine.begin() as connection:
            connection.execute(notes.insert().values(id=5, body="kept"))
        assert count(engine, notes) == 1
    finally:
        engine.dispose()


def write_twice(engine: Engine, notes: sa.Table) -> None:
    """A test that commits a row, then fails writing it again."""
    with rolled_back(engine) as test:
        with test.sessions() as session:
            session.execute(notes.insert().values(id=1, body="first"))
            session.commit()
        test.connection.execute(notes.insert().values(id=1, body="again"))


def test_a_failing_test_is_rolled_back_too(database_url: str, metadata: MetaData) -> None:
    notes = notes_table(metadata)
    engine = create_engine(database_url)
    try:
        metadata.create_all(engine)
        with pytest.raises(DBDuplicateEntry):
            write_twice(engine, notes)
        assert count(engine, notes) == 0
    finally:
        engine.dispose()


async def test_everything_an_async_test_wrote_is_rolled_back(
    database_url: str, metadata: MetaData
) -> None:
    notes = notes_table(metadata)
    sync_engine = create_engine(database_url)
    engine = create_async_engine(database_url)
    try:
        metadata.create_all(sync_engine)
        async with rolled_back_async(engine) as test:
            await test.connection.execute(notes.insert().values(id=1, body="connection"))
            async with test.sessions() as session:
                await session.execute(notes.insert().values(id=2, body="committed"))
                await session.commit()
            async with test.sessions() as session:
                await session.execute(notes.insert().values(id=3, body="rolled back"))
                await session.rollback()
                seen = await session.execute(sa.select(notes.c.id).order_by(notes.c.id))
                assert seen.scalars().all() == [1, 2]
        async with engine.connect() as connection:
            found = await connection.execute(sa.select(sa.func.count()).select_from(notes))
            assert found.scalar_one() == 0
        async with engine.begin() as connection:
            await connection.execute(notes.insert().values(id=4, body="kept"))
        assert count(sync_engine, notes) == 1
    finally:
        await engine.dispose()
        sync_engine.dispose()
