"""The one place that knows where the test servers are.

Each server has a default URL on loopback (as ``scripts/services`` starts it) that an
environment variable overrides, e.g. ``ANKER_TEST_REDIS_URL=redis://127.0.0.1:6380/0``.
A test asks for a server through its fixture (``redis_url``, ...). When the server does not
answer, the test is skipped with a reason naming the server and how to start it; with
``ANKER_REQUIRE_SERVICES=1`` (as in CI) every skip fails instead (see ``conftest.py``).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import pytest

from anker._url import parse_url

__all__ = ["SERVERS", "Server", "require_server"]

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
