"""Every coordination backend on its real server, for the conformance suites.

Each test that takes ``backend_url`` runs once per backend (ids: sqlite, redis, postgresql,
etcd, zookeeper). Names are kept apart per test by a random prefix, so tests can share servers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from anker._drivers import load_driver
from anker._url import parse_url
from anker.coordination import Backend, Coordinator
from servers import require_server

pytestmark = pytest.mark.integration

BACKENDS = ("sqlite", "redis", "postgresql", "etcd", "zookeeper")
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


@pytest.fixture
async def open_backend(backend_url: str) -> AsyncIterator[OpenBackend]:
    """Open raw backends (the driver interface, no coordinator); all closed at the end."""
    opened: list[Backend] = []

    async def open_(lease: float = LEASE, timeout: float = 5.0) -> Backend:
        driver, parsed = load_driver(
            "anker.coordination.backends",
            backend_url,
            Backend,  # type: ignore[type-abstract]
        )
        backend = driver(parsed, {}, lease=lease, timeout=timeout)
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


class TCPProxy:
    """A TCP proxy on loopback that a test can cut (drop every connection, refuse new ones)
    and restore, to partition a client from its server without touching the server."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                sink.transport.abort()
                self._writers.discard(sink)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def through(url: str, port: int) -> str:
    """``url`` with its (first) host and port replaced by 127.0.0.1:``port``."""
    parsed = parse_url(url)
    endpoint = parsed.endpoints[0]
    old = endpoint.render(mask=False)
    userinfo = old.rpartition("@")[0]
    new = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return url.replace(old, new, 1)
