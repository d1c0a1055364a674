"""A pool with every connection in use: the checkout that waited ``pool_timeout`` in vain is a
DBPoolTimeout naming the pool's sizes (SQLAlchemy's own TimeoutError is its cause), on every
database, sync and async; ``retrying`` does not wait again."""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from sqlalchemy import text

from anker._url import parse_url
from anker.db import DBConnectionError, DBPoolTimeout, create_async_engine, create_engine, retrying


def assert_names_the_pool(error: DBPoolTimeout, url: str) -> None:
    assert isinstance(error, DBConnectionError)
    assert error.transient is False
    assert (error.pool_size, error.max_overflow, error.pool_timeout) == (1, 0, 0.05)
    assert error.operation == "checkout"
    assert error.url == str(parse_url(url))
    for named in ("pool_size=1", "max_overflow=0", "pool_timeout=0.05s"):
        assert named in str(error)
    assert isinstance(error.__cause__, sqlalchemy.exc.TimeoutError)


def test_a_pool_with_every_connection_held_times_out_with_a_clear_error(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout="50ms")
    attempts = 0

    @retrying
    def work() -> None:
        nonlocal attempts
        attempts += 1
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    with engine.connect() as held:
        held.execute(text("SELECT 1"))
        with pytest.raises(DBPoolTimeout) as raised:
            work()
    assert_names_the_pool(raised.value, database_url)
    assert attempts == 1  # not retried: the wait was the retry
    work()  # the held connection is back: the pool hands it out
    engine.dispose()
    with engine.connect() as held, pytest.raises(DBPoolTimeout) as raised, engine.connect():
        pass  # dispose() made a new pool: it translates the same
    assert_names_the_pool(raised.value, database_url)
    engine.dispose()


async def test_an_async_pool_times_out_with_the_same_error(database_url: str) -> None:
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout="50ms")
    async with engine.connect() as held:
        await held.execute(text("SELECT 1"))
        with pytest.raises(DBPoolTimeout) as raised:
            async with engine.connect():
                pass
    assert_names_the_pool(raised.value, database_url)
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
    await engine.dispose()
