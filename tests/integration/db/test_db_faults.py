"""Connections killed from the server side (pg_terminate_backend, MariaDB's KILL): a retrying
unit of work survives them without a ping per checkout, anything else gets a clear
DBConnectionError, and a transaction killed halfway leaves nothing behind."""

from __future__ import annotations

import pytest
from db_support import backend_id, kill
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text

from anker.db import DBConnectionError, create_async_engine, create_engine, retrying


def test_a_pooled_connection_killed_while_idle_is_survived_by_a_retrying_unit_of_work(
    server_url: str,
) -> None:
    engine = create_engine(server_url, pool_size=1, max_overflow=0)
    killed = backend_id(engine)  # now idle in the pool
    kill(server_url, killed)

    @retrying
    def work() -> int:
        return backend_id(engine)

    assert work() != killed
    engine.dispose()


def test_a_connection_killed_while_idle_in_the_pool_is_replaced_at_checkout_without_a_ping(
    server_url: str,
) -> None:
    engine = create_engine(server_url, pool_size=1, max_overflow=0)
    assert engine.pool._pre_ping is False  # type: ignore[attr-defined]
    killed = backend_id(engine)
    kill(server_url, killed)
    assert backend_id(engine) != killed  # no error, no retrying: the checkout replaced it
    engine.dispose()


def test_a_connection_killed_while_checked_out_is_a_clear_connection_error_once(
    server_url: str,
) -> None:
    engine = create_engine(server_url, pool_size=1, max_overflow=0)
    with engine.connect() as connection:
        killed = backend_id_of(connection)
        connection.rollback()
        kill(server_url, killed)
        with pytest.raises(DBConnectionError) as raised:
            backend_id_of(connection)
    assert raised.value.operation == "execute"
    assert raised.value.__cause__ is not None
    assert backend_id(engine) != killed  # the pool dropped the dead connection
    engine.dispose()


async def test_an_async_retrying_unit_of_work_survives_a_killed_connection(
    server_url: str,
) -> None:
    engine = create_async_engine(server_url, pool_size=1, max_overflow=0)
    query = (
        "SELECT pg_backend_pid()"
        if server_url.startswith("postgresql")
        else "SELECT CONNECTION_ID()"
    )

    @retrying
    async def work() -> int:
        async with engine.connect() as connection:
            return int((await connection.execute(text(query))).scalar_one())

    killed = await work()
    kill(server_url, killed)
    assert await work() != killed
    await engine.dispose()


def test_a_transaction_killed_halfway_applies_nothing(
    server_url: str, server_tables: MetaData, prefix: str
) -> None:
    table = Table(f"{prefix}_half", server_tables, Column("id", Integer, primary_key=True))
    engine = create_engine(server_url, pool_size=1, max_overflow=0)
    server_tables.create_all(engine)
    with pytest.raises(DBConnectionError), engine.begin() as connection:  # noqa: PT012
        connection.execute(insert(table).values(id=1))
        kill(server_url, backend_id_of(connection))
        connection.execute(insert(table).values(id=2))
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(table)).scalar_one() == 0
    engine.dispose()


def test_a_commit_on_a_killed_connection_applies_nothing(
    server_url: str, server_tables: MetaData, prefix: str
) -> None:
    table = Table(f"{prefix}_commit", server_tables, Column("id", Integer, primary_key=True))
    engine = create_engine(server_url, pool_size=1, max_overflow=0)
    server_tables.create_all(engine)
    with pytest.raises(DBConnectionError), engine.begin() as connection:  # noqa: PT012
        connection.execute(insert(table).values(id=1))
        kill(server_url, backend_id_of(connection))
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(table)).scalar_one() == 0
    engine.dispose()


def test_wrong_credentials_are_a_connection_error_with_the_password_masked(
    server_url: str,
) -> None:
    scheme, _, rest = server_url.partition("://")
    host = rest.rpartition("@")[2].partition("/")[0]
    # MariaDB refuses the password; PostgreSQL (trust) the database that does not exist
    url = f"{scheme}://anker_nobody:s3cr3t-pw@{host}/anker_no_such_db"
    engine = create_engine(url)
    with pytest.raises(DBConnectionError) as raised, engine.connect():
        pass
    assert "anker_nobody" in str(raised.value)
    assert "s3cr3t-pw" not in str(raised.value)
    assert "s3cr3t-pw" not in repr(raised.value.__cause__)
    engine.dispose()


def backend_id_of(connection: object) -> int:
    """The server's id of an open connection."""
    from sqlalchemy import Connection

    assert isinstance(connection, Connection)
    query = (
        "SELECT pg_backend_pid()"
        if connection.dialect.name == "postgresql"
        else "SELECT CONNECTION_ID()"
    )
    return int(connection.execute(text(query)).scalar_one())
