"""Every workflow store on its real server, for the workflow suites.

A test that takes ``store_url`` runs once per store (ids: sqlite, postgresql), each on a store
of its own: a fresh SQLite file or a fresh PostgreSQL database (created and dropped around the
test; the store's tables have fixed names).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import servers
from servers import require_server

#: every store; PostgreSQL is an integration test, sqlite runs in `make unit`
STORES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.integration))


def fresh_postgres(server: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server at ``server`` (its URL), dropped after."""
    return servers.fresh_postgres(server, "workflow")


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store of one kind (the test runs once for each)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/workflows.db"
    else:
        yield from fresh_postgres(require_server("postgresql"))


@pytest.fixture
def postgres_store(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database (for the scale-out tests)."""
    yield from fresh_postgres(require_server("postgresql"))
