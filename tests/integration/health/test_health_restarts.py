"""/readyz follows real dependencies: a private Redis stopped and started again, and the
shared RabbitMQ cut off and restored through a TCP proxy (never the shared servers)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from health_support import FAIL_WITHIN, status_within

from anker.coordination import Coordinator
from anker.health import Health, HealthServer, check_coordinator, check_event_loop, check_transport
from anker.messaging import connect
from tcp_proxy import TCPProxy, through

pytestmark = pytest.mark.integration


class PrivateRedis:
    """A redis-server of this test's own, on a free port, without persistence."""

    def __init__(self, home: Path) -> None:
        self.home = home
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        guard = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        with (self.home / "redis.log").open("ab") as log:
            self._process = subprocess.Popen(
                [*guard, "redis-server", *arguments, "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "the private redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian's redis-server)")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_readyz_follows_a_private_redis(private_redis: PrivateRedis) -> None:
    coordinator = await Coordinator.connect(private_redis.url, timeout=1.0)
    health = Health(interval=0.25, timeout=1.0, discover=False)
    health.add(check_event_loop())
    health.add(check_coordinator(coordinator))
    try:
        async with (
            health,
            HealthServer(health, port=0) as server,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client,
        ):
            assert (await client.get("/readyz")).status_code == 200
            await asyncio.to_thread(private_redis.stop)
            failed = await status_within(client, 503, FAIL_WITHIN)
            assert (await client.get("/livez")).status_code == 200  # no restart cascade
            await asyncio.to_thread(private_redis.start)
            back = await status_within(client, 200, FAIL_WITHIN)
            print(f"\nredis: /readyz 503 after {failed:.2f} s, 200 again after {back:.2f} s")
    finally:
        await coordinator.aclose()


async def test_readyz_follows_rabbitmq_through_a_cut(rabbit_url: str) -> None:
    from anker._url import parse_url

    endpoint = parse_url(rabbit_url).endpoints[0]
    proxy = TCPProxy((endpoint.host, endpoint.port or 5672))
    await proxy.start()
    transport = await connect(through(rabbit_url, proxy.port), timeout=5)
    health = Health(interval=0.25, timeout=1.0, discover=False)
    health.add(check_transport(transport))
    try:
        async with (
            health,
            HealthServer(health, port=0) as server,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client,
        ):
            assert (await client.get("/readyz")).status_code == 200
            await proxy.cut()
            failed = await status_within(client, 503, FAIL_WITHIN)
            await proxy.restore()
            # the transport reconnects with its own backoff (capped): a looser bound
            back = await status_within(client, 200, 15.0)
            print(f"\nrabbitmq: /readyz 503 after {failed:.2f} s, 200 again after {back:.2f} s")
    finally:
        await transport.aclose()
        await proxy.aclose()
