"""anker.db.probe and probe_async: a database that answers, one that refuses, one that says
nothing, and a pooled connection the server killed (a healthy database all the same)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from db_support import backend_id, kill

from anker.db import DBConnectionError, create_async_engine, create_engine, probe, probe_async
from anker.errors import Unavailable

SECRET = "hunter2-probe-secret"


@pytest.fixture
def refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed: connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that takes connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def dead_urls(port: int) -> list[str]:
    return [
        f"postgresql://svc:{SECRET}@127.0.0.1:{port}/app",
        f"mysql://svc:{SECRET}@127.0.0.1:{port}/app",
    ]


def assert_unavailable_without_secret(error: BaseException) -> None:
    assert isinstance(error, DBConnectionError)
    assert isinstance(error, Unavailable)
    assert error.operation in ("connect", "probe"), error
    for shown in (str(error), repr(error), error.url, error.reason):
        assert SECRET not in shown


def test_a_database_that_answers_gives_its_round_trip(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        first = probe(engine)  # connects
        second = probe(engine, timeout=2.0)  # a pooled connection
        assert first > 0
        assert second > 0
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


async def test_an_async_database_that_answers_gives_its_round_trip(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        assert await probe_async(engine) > 0
        assert await probe_async(engine, timeout=2.0) > 0
        assert engine.sync_engine.pool.checkedout() == 0
    finally:
        await engine.dispose()


def test_a_killed_pooled_connection_is_not_an_outage(server_url: str) -> None:
    engine = create_engine(server_url, pool_size=1)
    try:
        killed = backend_id(engine)
        kill(server_url, killed)
        assert probe(engine) > 0
        assert backend_id(engine) != killed
    finally:
        engine.dispose()


async def test_a_killed_pooled_async_connection_is_not_an_outage(server_url: str) -> None:
    engine = create_async_engine(server_url, pool_size=1)
    query = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
    try:
        async with engine.connect() as connection:
            result = await connection.execute(sa.text(query[engine.dialect.name]))
            killed = int(result.scalar_one())
        kill(server_url, killed)
        assert await probe_async(engine) > 0
    finally:
        await engine.dispose()


def test_a_refused_connection_is_unavailable_without_the_password(refused_port: int) -> None:
    for url in dead_urls(refused_port):
        engine = create_engine(url)
        try:
            with pytest.raises(DBConnectionError) as raised:
                probe(engine)
            assert_unavailable_without_secret(raised.value)
            assert raised.value.transient
        finally:
            engine.dispose()


async def test_a_refused_async_connection_is_unavailable_too(refused_port: int) -> None:
    for url in dead_urls(refused_port):
        engine = create_async_engine(url)
        try:
            with pytest.raises(DBConnectionError) as raised:
                await probe_async(engine)
            assert_unavailable_without_secret(raised.value)
        finally:
            await engine.dispose()


def test_a_server_that_says_nothing_is_unavailable_at_the_timeout(silent_port: int) -> None:
    for url in dead_urls(silent_port):
        engine = create_engine(url, connect_timeout="1s")
        try:
            with pytest.raises(
                DBConnectionError, match=r"no answer to SELECT 1 within 0\.2 s"
            ) as e:
                probe(engine, timeout=0.2)
            assert_unavailable_without_secret(e.value)
        finally:
            engine.dispose()


async def test_an_async_server_that_says_nothing_is_unavailable_too(silent_port: int) -> None:
    for url in dead_urls(silent_port):
        engine = create_async_engine(url, connect_timeout="1s")
        try:
            with pytest.raises(
                DBConnectionError, match=r"no answer to SELECT 1 within 0\.2 s"
            ) as e:
                await probe_async(engine, timeout=0.2)
            assert_unavailable_without_secret(e.value)
        finally:
            await engine.dispose()


def test_a_missing_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite://{tmp_path}/missing.db", sqlite_create=False)
    try:
        with pytest.raises(DBConnectionError, match="unable to open database file"):
            probe(engine)
    finally:
        engine.dispose()


def test_an_engine_anker_did_not_make_is_probed_too(refused_port: int) -> None:
    engine = sa.create_engine(f"postgresql+psycopg://svc:{SECRET}@127.0.0.1:{refused_port}/app")
    try:
        with pytest.raises(DBConnectionError) as raised:
            probe(engine)
        assert_unavailable_without_secret(raised.value)
        assert raised.value.url == f"postgresql+psycopg://svc:***@127.0.0.1:{refused_port}/app"
    finally:
        engine.dispose()


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_the_timeout_must_be_positive(tmp_path: Path, timeout: float) -> None:
    engine = create_engine(f"sqlite://{tmp_path}/test.db")
    with pytest.raises(ValueError, match="more than 0 seconds"):
        probe(engine, timeout=timeout)
