"""The one place that knows where the test servers are.

Each server has a default URL on loopback (as ``scripts/services`` starts it) that an
environment variable overrides, e.g. ``ANKER_TEST_REDIS_URL=redis://127.0.0.1:6380/0``. The two
Tang servers share one comma-separated variable, ``ANKER_TEST_TANG_URLS``.
A test asks for a server through its fixture (``redis_url``, ...). When the server does not
answer, the test is skipped with a reason naming the server and how to start it; with
``ANKER_REQUIRE_SERVICES=1`` (as in CI) every skip fails instead (see ``conftest.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from anker._url import parse_url

__all__ = ["SERVERS", "PrivateTang", "Server", "fresh_postgres", "require_server"]

CONNECT_TIMEOUT = 2.0


@dataclass(frozen=True)
class Server:
    name: str
    env_var: str
    default_url: str
    default_port: int

    @property
    def url(self) -> str:
        return os.environ.get(self.env_var) or self.default_url

    def address(self) -> tuple[str, int]:
        endpoint = parse_url(self.url).endpoints[0]
        return endpoint.host, endpoint.port or self.default_port

    def start_hint(self) -> str:
        return f"start it with 'scripts/services --only {self.name}' or set {self.env_var}"


@dataclass(frozen=True)
class ListedServer(Server):
    """One of several servers of a kind whose URLs share one comma-separated variable."""

    index: int = 0
    service: str = ""  # the name `scripts/services --only` knows them by

    @property
    def url(self) -> str:
        listed = [url.strip() for url in os.environ.get(self.env_var, "").split(",") if url.strip()]
        if not listed:
            return self.default_url
        if self.index >= len(listed):
            pytest.skip(f"{self.env_var} names {len(listed)} server(s); tests need {self.name}")
        return listed[self.index]

    def start_hint(self) -> str:
        return f"start it with 'scripts/services --only {self.service}' or set {self.env_var}"


SERVERS: dict[str, Server] = {
    server.name: server
    for server in (
        Server(
            "postgresql",
            "ANKER_TEST_POSTGRES_URL",
            "postgresql://postgres@127.0.0.1:5432/postgres",
            5432,
        ),
        Server("mariadb", "ANKER_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test", 3306),
        Server("redis", "ANKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0", 6379),
        Server("rabbitmq", "ANKER_TEST_RABBIT_URL", "rabbit://guest:guest@127.0.0.1:5672/", 5672),
        Server("nats", "ANKER_TEST_NATS_URL", "nats://127.0.0.1:4222", 4222),
        Server("etcd", "ANKER_TEST_ETCD_URL", "etcd://127.0.0.1:2379", 2379),
        Server("zookeeper", "ANKER_TEST_ZOOKEEPER_URL", "zookeeper://127.0.0.1:2181", 2181),
        Server("barbican", "ANKER_TEST_BARBICAN_URL", "barbican://127.0.0.1:9311", 9311),
        *(
            ListedServer(f"tang{index + 1}", "ANKER_TEST_TANG_URLS", url, port, index, "tang")
            for index, (url, port) in enumerate(
                (("http://127.0.0.1:8561", 8561), ("http://127.0.0.1:8562", 8562))
            )
        ),
    )
}


def require_server(name: str) -> str:
    """The server's URL, or a skip that says which server is missing and how to start it."""
    server = SERVERS[name]
    host, port = server.address()
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        pytest.skip(f"{name} is not reachable at {host}:{port} ({exc}); {server.start_hint()}")
    return server.url


def fresh_postgres(server: str, prefix: str) -> Iterator[str]:
    """A fresh database (named ``prefix_<random>``) on the PostgreSQL server at ``server``
    (its URL, a plain libpq URI), dropped after."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    base, _, _ = server.rpartition("/")
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_fixture(name: str) -> Any:
    """A session fixture giving the URL of server ``name`` (or skipping without it)."""

    @pytest.fixture(scope="session")
    def url() -> str:
        return require_server(name)

    return url


postgres_url = server_fixture("postgresql")
mariadb_url = server_fixture("mariadb")
redis_url = server_fixture("redis")
rabbit_url = server_fixture("rabbitmq")
nats_url = server_fixture("nats")
etcd_url = server_fixture("etcd")
zookeeper_url = server_fixture("zookeeper")
barbican_url = server_fixture("barbican")
tang_url = server_fixture("tang1")
tang2_url = server_fixture("tang2")


@pytest.fixture(scope="session")
def tang_urls(tang_url: str, tang2_url: str) -> list[str]:
    """Both shared Tang servers (for threshold bindings)."""
    return [tang_url, tang2_url]


@pytest.fixture(scope="session")
def clevis() -> str:
    """The path of the ``clevis`` command, the independent peer for Tang bindings."""
    found = shutil.which("clevis")
    if found is None:
        pytest.skip(
            "clevis is not installed; 'scripts/services --only tang' installs Debian's clevis"
        )
    return found


TANGD = Path("/usr/libexec/tangd")
TANGD_KEYGEN = Path("/usr/libexec/tangd-keygen")


class PrivateTang:
    """A Tang server of one test's own (tangd behind socat), which the test may stop.

    Never stop the shared servers: other tests run against them.
    """

    def __init__(self, directory: Path) -> None:
        if " " in str(directory):
            pytest.skip(f"socat cannot pass a key directory with spaces ({directory})")
        self.keys = directory / "tang-keys"
        self.keys.mkdir(parents=True)
        subprocess.run([str(TANGD_KEYGEN), str(self.keys)], capture_output=True, check=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        listen = f"TCP-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork"
        # setpriv: a test run that is killed leaves no listener behind
        guard = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        self._process = subprocess.Popen(
            [*guard, "socat", listen, f"EXEC:{TANGD} {self.keys}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/adv", timeout=1):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"a private tangd on port {self.port} did not answer within 10 s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


def _free_port() -> int:
    with socket.socket() as sock:  # socat cannot bind port 0 itself
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def private_tang(tmp_path: Path) -> Iterator[PrivateTang]:
    """A started Tang server that only this test uses; stopped (if still running) after it."""
    missing = [str(path) for path in (TANGD, TANGD_KEYGEN) if not path.exists()]
    if missing or shutil.which("socat") is None:
        pytest.skip(
            f"tang or socat is not installed ({', '.join(missing) or 'socat'});"
            " 'scripts/services --only tang' installs them"
        )
    server = PrivateTang(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def forget_nats_streams(url: str, exchange: str) -> None:
    """Delete the JetStream streams a test's exchange made on the shared NATS server, so
    test runs do not pile them up there."""
    import nats

    from anker.messaging.transports.nats import _names

    client = await nats.connect(url, connect_timeout=5, allow_reconnect=False)
    try:
        js = client.jetstream(timeout=5)
        for stream in (_names.cast_stream, _names.notify_stream, _names.dead_letter_stream):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(stream(exchange)[0])
    finally:
        await client.close()
