"""The db suites' fixtures (defined in db_support.py and private_servers.py)."""

from collections.abc import Iterator

import pytest
from db_support import (  # noqa: F401 (fixtures, found by pytest through this import)
    database_url,
    metadata,
    prefix,
    server_tables,
    server_url,
)
from private_servers import PrivateServer, private_server_for


@pytest.fixture(scope="module", params=("postgresql", "mariadb"))
def private_server_instance(request: pytest.FixtureRequest) -> Iterator[PrivateServer]:
    """A private server per module and database (made once: that takes a second)."""
    yield from private_server_for(request.param)


@pytest.fixture
def private_server(private_server_instance: PrivateServer) -> PrivateServer:
    """A private server the test may stop and start (never a shared one), running at first."""
    private_server_instance.start()
    return private_server_instance
