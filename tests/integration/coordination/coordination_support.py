"""Every coordination backend on its real server, for the conformance suites.

Each test that takes ``backend_url`` runs once per backend (ids: sqlite, redis, postgresql,
etcd, zookeeper). Names are kept apart per test by a random prefix, so tests can share servers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from anker._drivers import prepare_driver
from anker.coordination import Coordinator
from anker.coordination.backends import Backend
from servers import require_server

#: every backend; those that need a server are integration tests, sqlite runs in `make unit`
BACKENDS = (
    "sqlite",
    *(
        pytest.param(name, marks=pytest.mark.integration)
        for name in ("redis", "postgresql", "etcd", "zookeeper")
    ),
)
#: short leases keep failure tests fast (etcd rounds a lease up to its minimum, 2 s)
LEASE = 1.0


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of one backend (the test runs once for each)."""
    name = request.param
    if name == "sqlite":
        return f"sqlite://{tmp_path}/coordination.db"
    return require_server(name)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


OpenBackend = Callable[..., Awaitable[Backend]]


def make_backend(url: str, **options: object) -> Backend:
    """A backend as Coordinator.connect makes it (settings parsed), not yet connected."""
    return prepare_driver("anker.coordination.backends", url, Backend, options)


@pytest.fixture
async def open_backend(backend_url: str) -> AsyncIterator[OpenBackend]:
    """Open raw backends (the driver interface, no coordinator); all closed at the end."""
    opened: list[Backend] = []

    async def open_(lease: float = LEASE, timeout: float = 5.0) -> Backend:
        backend = make_backend(backend_url, lease=lease, timeout=timeout)
        await backend.connect()
        opened.append(backend)
        return backend

    yield open_
    for backend in opened:
        await backend.aclose()


OpenCoordinator = Callable[..., Awaitable[Coordinator]]


@pytest.fixture
async def coordinator(backend_url: str, prefix: str) -> AsyncIterator[OpenCoordinator]:
    """Open coordinators sharing one prefix; all closed at the end."""
    opened: list[Coordinator] = []

    async def open_(
        member_id: str | None = None, lease: float = LEASE, **options: str
    ) -> Coordinator:
        coordinator = await Coordinator.connect(
            backend_url, member_id=member_id, lease=lease, prefix=prefix, **options
        )
        opened.append(coordinator)
        return coordinator

    yield open_
    for coordinator in opened:
        await coordinator.aclose()


NETWORK_BACKENDS = tuple(name for name in BACKENDS if name != "sqlite")
