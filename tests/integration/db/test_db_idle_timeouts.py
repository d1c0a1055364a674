"""Sessions the server ends for idleness: MariaDB's ``wait_timeout``, PostgreSQL's
``idle_session_timeout`` and ``idle_in_transaction_session_timeout``, set small for the
engine's own connections (a ``connect`` event), on the shared servers.

A connection the server closed while it sat in the pool is replaced at checkout, without
``pool_pre_ping`` and without a retry: the next operation just works. One closed while checked
out, in a transaction, fails with a clear DBConnectionError."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from db_support import backend_id
from sqlalchemy import Engine, event, text

from anker.db import DBConnectionError, create_async_engine, create_engine

#: how long the server lets the engine's connections idle (seconds)
IDLE = 1


def idle_timeout_statement(url: str, *, in_transaction: bool = False) -> str:
    if url.startswith("postgresql"):
        name = "idle_in_transaction_session_timeout" if in_transaction else "idle_session_timeout"
        return f"SET {name} = '{IDLE}s'"
    return f"SET SESSION wait_timeout = {IDLE}"


def set_on_connect(engine: Engine, statement: str) -> None:
    """Run ``statement`` on each new connection of ``engine`` (and commit: psycopg opened a
    transaction for it, and a session idle in a transaction is not idle for the server)."""

    def connect(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        dbapi_connection.commit()

    event.listen(engine, "connect", connect)


def wait_until_closed(url: str, server_id: int) -> None:
    """Wait (on the server's own list of sessions) until the server ended ``server_id``."""
    engine = create_engine(url, pool_size=1)
    if url.startswith("postgresql"):
        query = f"SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {server_id}"
    else:
        query = f"SELECT COUNT(*) FROM information_schema.processlist WHERE id = {server_id}"
    deadline = time.monotonic() + 60
    try:
        with engine.connect() as connection:
            while connection.execute(text(query)).scalar_one():
                connection.rollback()  # a fresh snapshot each time
                assert time.monotonic() < deadline, f"session {server_id} was never ended"
                time.sleep(0.05)
    finally:
        engine.dispose()


def test_a_healthy_pooled_connection_is_kept_by_the_checkout_check(server_url: str) -> None:
    engine = create_engine(server_url, pool_size=1, max_overflow=0)
    first = backend_id(engine)
    assert [backend_id(engine) for _ in range(5)] == [first] * 5
    engine.dispose()


def test_a_pooled_connection_the_server_closed_for_idleness_is_replaced_at_checkout(
    server_url: str,
) -> None:
    engine = create_engine(server_url, pool_size=1, max_overflow=0)
    assert engine.pool._pre_ping is False  # type: ignore[attr-defined]
    set_on_connect(engine, idle_timeout_statement(server_url))
    closed = backend_id(engine)
    wait_until_closed(server_url, closed)
    assert backend_id(engine) != closed  # no error, no retrying, no ping
    engine.dispose()


async def test_an_async_engine_replaces_it_at_checkout_too(server_url: str) -> None:
    engine = create_async_engine(server_url, pool_size=1, max_overflow=0)
    set_on_connect(engine.sync_engine, idle_timeout_statement(server_url))
    query = text(
        "SELECT pg_backend_pid()"
        if server_url.startswith("postgresql")
        else "SELECT CONNECTION_ID()"
    )

    async def server_id() -> int:
        async with engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    closed = await server_id()
    await asyncio.to_thread(wait_until_closed, server_url, closed)
    assert await server_id() != closed
    await engine.dispose()


def test_a_connection_closed_for_idleness_inside_a_transaction_is_a_clear_connection_error(
    server_url: str,
) -> None:
    engine = create_engine(server_url, pool_size=1, max_overflow=0)
    set_on_connect(engine, idle_timeout_statement(server_url, in_transaction=True))
    with pytest.raises(DBConnectionError) as raised, engine.begin() as connection:  # noqa: PT012
        closed = int(connection.execute(text(_ID[engine.dialect.name])).scalar_one())
        wait_until_closed(server_url, closed)
        connection.execute(text("SELECT 1"))
    assert raised.value.operation == "execute"
    assert raised.value.transient is True
    assert backend_id(engine) != closed  # the pool dropped it: the next call works
    engine.dispose()


_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
