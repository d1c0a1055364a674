"""Server restarts, on private PostgreSQL and MariaDB servers the tests stop and start: a
retrying unit of work waits the outage out and returns soon after the server is back, anything
else gets a clear DBConnectionError at once, and pooled connections a restart killed are
replaced. Wrong credentials are a DBAccessDenied that is never retried."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from private_servers import PrivateServer
from sqlalchemy import Engine, text

from anker.db import (
    DBAccessDenied,
    DBConnectionError,
    create_async_engine,
    create_engine,
    retrying,
)

pytestmark = pytest.mark.integration

#: how soon after the server takes connections again a waiting unit of work must return: a
#: loose bound for loaded test machines (bench/db_restart_latency.py measures the 0.2 s target)
BACK_WITHIN = 2.0
#: what the drivers say while the server is down, and after it killed an idle connection
REFUSED = {"postgresql": "Connection refused", "mariadb": "(2003, "}
LOST = {"postgresql": "terminating connection due to administrator command", "mariadb": "(2013, "}
_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}


def server_id(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(_ID[engine.dialect.name])).scalar_one())


def test_a_retrying_unit_of_work_started_during_an_outage_succeeds_soon_after_the_restart(
    private_server: PrivateServer,
) -> None:
    engine = create_engine(private_server.url, connect_timeout="2s")
    attempts = 0
    outage_seen = threading.Event()

    @retrying  # failures to connect do not count against max_retries
    def work() -> float:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            outage_seen.set()
        server_id(engine)
        return time.monotonic()

    private_server.stop()
    with ThreadPoolExecutor(1) as pool:
        returned = pool.submit(work)
        assert outage_seen.wait(10), "the unit of work was not retried during the outage"
        time.sleep(0.3)  # a few more refused attempts: the backoff grows
        assert not returned.done()
        private_server.launch()
        ready = private_server.wait_ready()
        done = returned.result(timeout=30)
    engine.dispose()
    late = max(0.0, done - ready)
    print(f"\n{private_server.name}: returned {late * 1000:.0f} ms after the server was back")
    assert late < BACK_WITHIN, f"returned {late:.2f} s after the server took connections"


def test_without_retrying_the_outage_is_a_clear_connection_error_within_the_timeout(
    private_server: PrivateServer,
) -> None:
    engine = create_engine(private_server.url, connect_timeout="2s")
    private_server.stop()
    started = time.monotonic()
    with pytest.raises(DBConnectionError) as raised:
        server_id(engine)
    assert time.monotonic() - started < 2.0 + 1.0  # refused at once; at most the timeout
    error = raised.value
    assert error.transient is True
    assert not isinstance(error, DBAccessDenied)
    assert error.operation == "connect"
    assert str(private_server.port) in str(error)
    assert REFUSED[private_server.name] in str(error.__cause__)
    engine.dispose()


async def test_without_retrying_an_async_engine_gets_the_same_clear_error(
    private_server: PrivateServer,
) -> None:
    engine = create_async_engine(private_server.url, connect_timeout="2s")
    private_server.stop()
    with pytest.raises(DBConnectionError) as raised:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    assert raised.value.transient is True
    assert raised.value.operation == "connect"
    await engine.dispose()


async def test_an_async_retrying_unit_of_work_waits_the_outage_out(
    private_server: PrivateServer,
) -> None:
    engine = create_async_engine(private_server.url, connect_timeout="2s")
    attempts = 0

    @retrying  # failures to connect do not count against max_retries
    async def work() -> int:
        nonlocal attempts
        attempts += 1
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT 1"))).scalar_one())

    private_server.stop()
    waiting = asyncio.ensure_future(work())
    await asyncio.sleep(0.5)
    assert not waiting.done()
    assert attempts > 1
    private_server.launch()  # from this thread: the server stops when its launcher ends
    await asyncio.to_thread(private_server.wait_ready)
    assert await asyncio.wait_for(waiting, timeout=30) == 1
    await engine.dispose()


def test_connections_a_restart_killed_while_idle_in_the_pool_are_replaced_at_checkout(
    private_server: PrivateServer,
) -> None:
    engine = create_engine(private_server.url, pool_size=3, max_overflow=0)
    held = [engine.connect() for _ in range(3)]
    for connection in held:
        connection.execute(text("SELECT 1"))
        connection.close()  # back to the pool, idle
    assert engine.pool.checkedin() == 3  # type: ignore[attr-defined]
    private_server.stop()
    private_server.start()
    attempts = 0

    @retrying
    def work() -> int:
        nonlocal attempts
        attempts += 1
        return server_id(engine)

    work()
    assert attempts == 1  # the checkout saw the connection was closed, and replaced it
    for _ in range(3):  # so with every other one the restart killed
        server_id(engine)
    engine.dispose()


def test_without_retrying_a_checked_out_connection_the_restart_killed_fails_once_clearly(
    private_server: PrivateServer,
) -> None:
    engine = create_engine(private_server.url, pool_size=1, max_overflow=0)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        connection.rollback()
        private_server.stop()
        private_server.start()
        with pytest.raises(DBConnectionError) as raised:
            connection.execute(text("SELECT 1"))
    assert raised.value.transient is True
    assert raised.value.operation == "execute"
    assert LOST[private_server.name] in str(raised.value.__cause__)
    server_id(engine)  # the pool dropped it: the next call works
    engine.dispose()


@pytest.mark.parametrize("wrong", ["password", "database"])
def test_wrong_credentials_or_database_are_access_denied_and_never_retried(
    private_server: PrivateServer, wrong: str
) -> None:
    url = private_server.url
    if wrong == "password":
        user = "postgres@" if private_server.name == "postgresql" else "root@"
        url = url.replace(user, "nobody:s3cret-pw@")
    else:
        url = url.rsplit("/", 1)[0] + "/no_such_database"
    engine = create_engine(url, connect_timeout="2s")
    attempts = 0

    @retrying(max_retries=5)
    def work() -> int:
        nonlocal attempts
        attempts += 1
        return server_id(engine)

    with pytest.raises(DBAccessDenied) as raised:
        work()
    assert attempts == 1  # no retry
    assert isinstance(raised.value, DBConnectionError)
    assert raised.value.transient is False
    assert raised.value.operation == "connect"
    assert "s3cret-pw" not in str(raised.value)
    engine.dispose()
