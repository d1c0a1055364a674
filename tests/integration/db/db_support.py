"""Every database anker.db speaks, on its real server, for the db suites.

A test that takes ``database_url`` runs once per database (ids: sqlite, postgresql, mariadb);
one that takes ``server_url`` once per database with a server (connections to kill). Each
test names its tables with a random prefix (``names``) and drops them at the end, so tests can
share the servers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, text

from anker.db import create_engine
from servers import require_server

#: the databases; those with a server are integration tests, sqlite runs in `make unit`
DATABASES = (
    "sqlite",
    *(pytest.param(name, marks=pytest.mark.integration) for name in ("postgresql", "mariadb")),
)
SERVERS = tuple(
    pytest.param(name, marks=pytest.mark.integration) for name in ("postgresql", "mariadb")
)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of one database (the test runs once for each)."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/test.db"
    return require_server(request.param)


@pytest.fixture(params=SERVERS)
def server_url(request: pytest.FixtureRequest) -> str:
    """A URL of one database server (the test runs once for each)."""
    return require_server(request.param)


@pytest.fixture
def metadata(database_url: str) -> Iterator[MetaData]:
    """A MetaData whose tables are dropped after the test."""
    yield (found := MetaData())
    engine = create_engine(database_url)
    try:
        found.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def server_tables(server_url: str, prefix: str) -> Iterator[MetaData]:
    """As ``metadata``, on ``server_url``."""
    yield (found := MetaData())
    engine = create_engine(server_url)
    try:
        found.drop_all(engine)
    finally:
        engine.dispose()


def backend_id(engine: Engine) -> int:
    """The server's id of the connection ``engine``'s pool hands out next."""
    with engine.connect() as connection:
        return int(connection.execute(text(_ID_QUERY[engine.dialect.name])).scalar_one())


_ID_QUERY = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}


def kill(url: str, server_id: int) -> None:
    """Kill connection ``server_id`` from the server side, from a connection of its own."""
    engine = create_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                killed = connection.execute(text(f"SELECT pg_terminate_backend({server_id}, 5000)"))
                assert killed.scalar_one() is True
            else:
                connection.execute(text(f"KILL {server_id}"))
    finally:
        engine.dispose()
