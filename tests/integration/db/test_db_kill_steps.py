"""A connection killed from the server side (``pg_terminate_backend``, MariaDB's ``KILL``) at
every step of a unit of work, on PostgreSQL and MariaDB, sync and async.

The unit of work reads, then inserts two rows with unique ids in one transaction. Killed while
idle in the pool, its connection is replaced at checkout: the unit of work never notices. Killed
at any later step, it fails with a clear DBConnectionError, and nothing of it is applied (counted
from another connection); as a ``retrying`` unit of work it runs again and commits exactly once
(a second commit would break the unique ids)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from db_support import backend_id
from sqlalchemy import Column, Engine, Integer, MetaData, Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from anker._url import parse_url
from anker.db import DBConnectionError, _pool, create_async_engine, create_engine, retrying
from anker.db._pool import closed_check

#: where the connection is killed: idle in the pool, then inside the unit of work's transaction
STEPS = (
    "idle_in_pool",
    "before_first_statement",
    "after_first_read",
    "after_first_write",
    "before_commit",
)
#: PostgreSQL's trust authentication ignores a password: one in the URL shows it is masked
PASSWORD = "kill-steps-s3cret"


@pytest.fixture
def url(server_url: str) -> str:
    if server_url.startswith("postgresql://"):
        scheme, _, rest = server_url.partition("://")
        user, _, where = rest.partition("@")
        return f"{scheme}://{user.partition(':')[0]}:{PASSWORD}@{where}"
    return server_url


@pytest.fixture
def table(server_tables: MetaData, prefix: str, server_url: str) -> Table:
    found = Table(f"{prefix}_steps", server_tables, Column("id", Integer, primary_key=True))
    engine = create_engine(server_url)
    server_tables.create_all(engine)
    engine.dispose()
    return found


def rows(url: str, table: Table) -> list[int]:
    """The table's ids, read from a connection of its own."""
    engine = create_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(table.c.id).order_by(table.c.id)).scalars())
    finally:
        engine.dispose()


def kill_and_wait(url: str, server_id: int) -> None:
    """Kill connection ``server_id`` and wait until the server has closed it."""
    engine = create_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                # waits (up to 5 s) for the backend to exit, its socket closed
                query = text(f"SELECT pg_terminate_backend({server_id}, 5000)")
                assert connection.execute(query).scalar_one() is True
                return
            connection.execute(text(f"KILL {server_id}"))
            alive = text(
                f"SELECT COUNT(*) FROM information_schema.processlist WHERE id = {server_id}"
            )
            deadline = time.monotonic() + 10
            while connection.execute(alive).scalar_one():
                assert time.monotonic() < deadline, f"connection {server_id} outlived its KILL"
                time.sleep(0.005)
    finally:
        engine.dispose()


def server_id_of(driver_connection: Any) -> int:
    """The server's id of a driver's connection, without a statement (from the handshake)."""
    info = getattr(driver_connection, "info", None)
    if info is not None and hasattr(info, "backend_pid"):  # psycopg
        return int(info.backend_pid)
    return int(driver_connection.thread_id())  # PyMySQL, aiomysql


class Killer:
    """Kills the unit of work's connection at ``step``, on the first attempt only."""

    def __init__(self, url: str, step: str) -> None:
        self.url = url
        self.step = step
        self.killed: int | None = None
        self.attempts = 0

    def at(self, step: str, driver_connection: Any) -> None:
        if step == self.step and self.killed is None:
            self.killed = server_id_of(driver_connection)
            kill_and_wait(self.url, self.killed)


def work(engine: Engine, table: Table, killer: Killer) -> int:
    """The unit of work: a read, two inserts, a commit; the killer strikes at its step."""
    killer.attempts += 1
    with engine.begin() as connection:
        driver = connection.connection.driver_connection
        killer.at("before_first_statement", driver)
        seen = connection.execute(select(func.count()).select_from(table)).scalar_one()
        killer.at("after_first_read", driver)
        connection.execute(insert(table).values(id=1))
        killer.at("after_first_write", driver)
        connection.execute(insert(table).values(id=2))
        killer.at("before_commit", driver)
    return int(seen)


async def async_work(engine: Any, table: Table, killer: Killer) -> int:
    killer.attempts += 1
    async with engine.begin() as connection:
        assert isinstance(connection, AsyncConnection)
        driver = (await connection.get_raw_connection()).driver_connection

        async def at(step: str) -> None:
            await asyncio.to_thread(killer.at, step, driver)

        await at("before_first_statement")
        seen = (await connection.execute(select(func.count()).select_from(table))).scalar_one()
        await at("after_first_read")
        await connection.execute(insert(table).values(id=1))
        await at("after_first_write")
        await connection.execute(insert(table).values(id=2))
        await at("before_commit")
    return int(seen)


def idle_in_pool(engine: Engine, killer: Killer) -> None:
    """Leave one connection idle in the pool, and kill it there (step ``idle_in_pool``)."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
    killer.at("idle_in_pool", driver)


def assert_clear_error(error: DBConnectionError, url: str) -> None:
    assert error.transient is True
    assert error.operation == "execute"
    assert error.url == str(parse_url(url))  # the masked form
    assert PASSWORD not in str(error)
    assert PASSWORD not in repr(error.__cause__)
    assert error.__cause__ is not None


@pytest.mark.parametrize("step", STEPS)
def test_without_retrying_a_kill_is_a_clear_error_and_nothing_is_applied(
    url: str, table: Table, step: str
) -> None:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    killer = Killer(url, step)
    idle_in_pool(engine, killer)
    if step == "idle_in_pool":  # replaced at checkout: the unit of work never notices
        assert work(engine, table, killer) == 0
        assert rows(url, table) == [1, 2]
    else:
        with pytest.raises(DBConnectionError) as raised:
            work(engine, table, killer)
        assert_clear_error(raised.value, url)
        assert rows(url, table) == []  # nothing half-applied
        assert backend_id(engine) != killer.killed  # the pool dropped the dead connection
    assert killer.killed is not None
    engine.dispose()


@pytest.mark.parametrize("step", STEPS)
def test_a_retrying_unit_of_work_killed_at_any_step_commits_exactly_once(
    url: str, table: Table, step: str
) -> None:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    killer = Killer(url, step)
    idle_in_pool(engine, killer)
    assert retrying(work)(engine, table, killer) == 0
    assert rows(url, table) == [1, 2]
    assert killer.killed is not None
    assert killer.attempts == (1 if step == "idle_in_pool" else 2)
    engine.dispose()


@pytest.mark.parametrize("step", STEPS)
async def test_async_without_retrying_a_kill_is_a_clear_error_and_nothing_is_applied(
    url: str, table: Table, step: str
) -> None:
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    killer = Killer(url, step)
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
    await asyncio.to_thread(killer.at, "idle_in_pool", driver)
    if step == "idle_in_pool":
        assert await async_work(engine, table, killer) == 0
        assert await asyncio.to_thread(rows, url, table) == [1, 2]
    else:
        with pytest.raises(DBConnectionError) as raised:
            await async_work(engine, table, killer)
        assert_clear_error(raised.value, url)
        assert await asyncio.to_thread(rows, url, table) == []
    assert killer.killed is not None
    await engine.dispose()


@pytest.mark.parametrize("step", STEPS)
async def test_an_async_retrying_unit_of_work_killed_at_any_step_commits_exactly_once(
    url: str, table: Table, step: str
) -> None:
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    killer = Killer(url, step)
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
    await asyncio.to_thread(killer.at, "idle_in_pool", driver)
    assert await retrying(async_work)(engine, table, killer) == 0
    assert await asyncio.to_thread(rows, url, table) == [1, 2]
    assert killer.killed is not None
    assert killer.attempts == (1 if step == "idle_in_pool" else 2)
    await engine.dispose()


def test_a_connection_is_checked_by_a_check_made_once_and_each_replacement_gets_its_own(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is made at a connection's first checkout and kept with it in the pool (a
    ``poll`` of its socket, registered once): a connection that replaced a killed one gets a
    check of its own, so killing the replacement while it idles is noticed at checkout too."""
    made: list[int] = []

    def counted(driver_connection: Any) -> Any:
        made.append(server_id_of(driver_connection))
        return closed_check(driver_connection)

    monkeypatch.setattr(_pool, "closed_check", counted)
    engine = create_engine(url, pool_size=1, max_overflow=0)
    killed = []
    for _ in range(3):
        ids = {backend_id(engine) for _ in range(4)}  # never an error
        assert len(ids) == 1
        assert made[-1] in ids  # the check of this connection, made once for four checkouts
        killed.append(ids.pop())
        kill_and_wait(url, killed[-1])
    last = backend_id(engine)  # the connection made at the checkout that found a kill ...
    assert backend_id(engine) == last  # ... has its check made at its next checkout
    assert last not in killed
    ours = (*killed, last)  # (made holds the checks of kill_and_wait's own connections too)
    assert [server_id for server_id in made if server_id in ours] == list(ours)
    engine.dispose()


async def test_an_async_engine_checks_each_replacement_too(url: str) -> None:
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    killed = []
    for _ in range(3):
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
            raw = await connection.get_raw_connection()
            killed.append(server_id_of(raw.driver_connection))
        await asyncio.to_thread(kill_and_wait, url, killed[-1])
    assert len(set(killed)) == 3
    await engine.dispose()
