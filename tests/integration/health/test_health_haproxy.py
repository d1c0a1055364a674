"""A real HAProxy (Debian's haproxy, a private instance on free ports) with ``option httpchk``
on ``/readyz`` takes a service out of rotation while its readiness fails and puts it back when
it recovers; curl checks the endpoints' status codes and bodies."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anker.health import Check, Health, HealthMiddleware, HealthServer, Result

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Switch:
    def __init__(self) -> None:
        self.result = Result.passed(0.2, "ms")

    async def __call__(self) -> Result:
        return self.result


def service_app(name: str) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": name.encode()})

    return app


@pytest.fixture
async def services() -> AsyncIterator[dict[str, tuple[Switch, HealthServer]]]:
    """Two services, "a" and "b", each its app behind the health middleware on uvicorn."""
    running: dict[str, tuple[Switch, HealthServer]] = {}
    registries = []
    try:
        for name in ("a", "b"):
            switch = Switch()
            health = Health(interval=0.1, discover=False)
            health.add(Check("dependency:responseTime", switch, "datastore"))
            await health.start()
            registries.append(health)
            app = HealthMiddleware(service_app(name), health)
            server = HealthServer(health, port=0, app=app)
            await server.start()
            running[name] = (switch, server)
        yield running
    finally:
        for _, server in running.values():
            await server.aclose()
        for health in registries:
            await health.aclose()


@pytest.fixture
def haproxy(tmp_path: Path, services: dict[str, tuple[Switch, HealthServer]]) -> Iterator[str]:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (Debian's haproxy: apt-get install haproxy)")
    port = free_port()
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{server.port} check" for name, (_, server) in services.items()
    )
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "global\n"
        "    maxconn 256\n"
        "defaults\n"
        "    mode http\n"
        "    timeout connect 1s\n"
        "    timeout client 5s\n"
        "    timeout server 5s\n"
        "frontend web\n"
        f"    bind 127.0.0.1:{port}\n"
        "    default_backend api\n"
        "backend api\n"
        "    balance roundrobin\n"
        "    option httpchk\n"
        "    http-check send meth GET uri /readyz\n"
        "    http-check expect status 200\n"
        "    default-server inter 100ms fall 1 rise 1\n"
        f"{servers}\n"
    )
    check = subprocess.run(
        ["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    log = (tmp_path / "haproxy.log").open("wb")
    guard = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
    process = subprocess.Popen(
        [*guard, "haproxy", "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # until HAProxy listens
            assert process.poll() is None, (tmp_path / "haproxy.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "haproxy did not listen within 30 s"
                time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


async def answering(frontend: str, wanted: set[str], timeout: float = 15.0) -> None:
    """Until 20 requests in a row through HAProxy are answered by exactly ``wanted``."""
    async with httpx.AsyncClient(base_url=frontend) as client:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            seen: set[str] = set()
            for _ in range(20):
                answer = await client.get("/")
                seen.add(answer.text if answer.status_code == 200 else str(answer.status_code))
            if seen == wanted:
                return
            assert asyncio.get_running_loop().time() < deadline, f"still answered by {seen}"
            await asyncio.sleep(0.05)


async def curl(url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "curl", "-s", "-w", "\n%{http_code}", url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    body, _, code = out.decode().rpartition("\n")
    return int(code), body


async def test_haproxy_follows_readiness(
    haproxy: str, services: dict[str, tuple[Switch, HealthServer]]
) -> None:
    await answering(haproxy, {"a", "b"})
    switch, server = services["b"]
    switch.result = Result.failed("dependency unavailable")
    await answering(haproxy, {"a"})  # b is out of rotation
    if shutil.which("curl"):
        assert await curl(f"http://127.0.0.1:{server.port}/readyz") == (503, '{"status":"fail"}')
        assert await curl(f"http://127.0.0.1:{server.port}/livez") == (200, '{"status":"pass"}')
    switch.result = Result.passed(0.2, "ms")
    await answering(haproxy, {"a", "b"})  # and back
    if shutil.which("curl"):
        assert await curl(f"http://127.0.0.1:{server.port}/readyz") == (200, '{"status":"pass"}')
