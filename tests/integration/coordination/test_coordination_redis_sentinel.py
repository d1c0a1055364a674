"""The Redis driver behind Sentinel: the primary is found through the Sentinels, and after a
failover the coordinator carries on with the new primary, its tokens still increasing.

The servers are private (a primary, a replica and one Sentinel on free ports, in a temporary
directory), so killing the primary leaves the machine's shared Redis alone.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from anker.coordination import BackendUnavailable, Coordinator
from servers import _free_port

pytestmark = pytest.mark.integration

SERVICE = "anker-test"


class PrivateSentinel:
    """A primary, one replica of it, and a Sentinel watching them (failover in about 2 s)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.primary_port, self.replica_port, self.port = _free_port(), _free_port(), _free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}?sentinel={SERVICE}"

    def start(self) -> None:
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._spawn("primary", ["--port", str(self.primary_port), *common])
        replica_of = ["--replicaof", "127.0.0.1", str(self.primary_port)]
        self._spawn("replica", ["--port", str(self.replica_port), *common, *replica_of])
        config = self.home / "sentinel.conf"  # Sentinel rewrites its file: it must be its own
        config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.home}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
        )
        self._spawn("sentinel", [str(config), "--sentinel"])

    def _spawn(self, name: str, arguments: list[str]) -> None:
        with (self.home / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                ["redis-server", *arguments], stdout=log, stderr=subprocess.STDOUT, cwd=self.home
            )

    def ask(self, port: int, *command: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-p", str(port), *command],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return done.stdout

    async def ready(self, *, to_fail_over: bool = False) -> None:
        """Until the Sentinel names the primary; ``to_fail_over``: and until the replica is in
        sync and the Sentinel knows it (it looks every 10 s), else it cannot fail over."""
        deadline = time.monotonic() + 30
        while True:
            named = str(self.primary_port) in self.ask(
                self.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE
            )
            synced = "master_link_status:up" in self.ask(self.replica_port, "INFO", "replication")
            known = str(self.replica_port) in self.ask(self.port, "SENTINEL", "REPLICAS", SERVICE)
            if named and (not to_fail_over or (synced and known)):
                return
            assert time.monotonic() < deadline, "the private Sentinel set-up did not start"
            await asyncio.sleep(0.1)

    def primary(self) -> int:
        answer = self.ask(self.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE).split()
        return int(answer[-1])

    def kill_primary(self) -> None:
        process = self.processes.pop("primary")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def private_sentinel(tmp_path: Path) -> Iterator[PrivateSentinel]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server and redis-cli are not installed (Debian's redis-server)")
    servers = PrivateSentinel(tmp_path)
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


async def test_the_primary_is_found_through_the_sentinels(
    private_sentinel: PrivateSentinel,
) -> None:
    await private_sentinel.ready()
    prefix = f"t{uuid.uuid4().hex[:8]}"
    # an unreachable Sentinel first in the list: the next one is asked
    dead = _free_port()
    url = f"redis://127.0.0.1:{dead},127.0.0.1:{private_sentinel.port}?sentinel={SERVICE}"
    coordinator = await Coordinator.connect(url, prefix=prefix, timeout=2.0)
    async with coordinator, coordinator.lock("volume-1") as lock:
        assert lock.token > 0
        (info,) = await coordinator.locks()
        assert (info.name, info.held) == ("volume-1", True)
        keys = private_sentinel.ask(private_sentinel.primary_port, "KEYS", "anker:coord:*")
        assert f"anker:coord:e:{prefix}/lock/volume-1" in keys.split()  # on the primary


async def test_after_a_failover_the_coordinator_carries_on_with_larger_tokens(
    private_sentinel: PrivateSentinel,
) -> None:
    await private_sentinel.ready(to_fail_over=True)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    async with await Coordinator.connect(
        private_sentinel.url, prefix=prefix, lease=2.0, timeout=1.0
    ) as coordinator:
        before = coordinator.lock("before")
        assert await before.acquire(timeout=5)
        first_token = before.token
        await before.release()
        private_sentinel.kill_primary()
        killed = time.monotonic()
        # Every call fails within its timeout while there is no primary, then works again
        # once the Sentinel has promoted the replica.
        while True:
            lock = coordinator.lock("after")
            started = time.monotonic()
            try:
                acquired = await lock.acquire(timeout=3)
            except BackendUnavailable:
                acquired = False
            # never a hang: the acquire's 3 s, a call's 1 s timeout on each side, and slack
            assert time.monotonic() - started < 3 + 2 * 1.0 + 1
            if acquired:
                break
            assert time.monotonic() - killed < 30, "no new primary within 30 s"
            await asyncio.sleep(0.1)
        assert private_sentinel.primary() == private_sentinel.replica_port
        assert lock.token > first_token
        await lock.release()


async def test_an_unknown_service_is_refused_within_the_timeout(
    private_sentinel: PrivateSentinel,
) -> None:
    await private_sentinel.ready()
    url = f"redis://:hunter2@127.0.0.1:{private_sentinel.port}?sentinel=no-such-service"
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        await Coordinator.connect(url, timeout=1.0)
    assert time.monotonic() - started < 3
    assert "no-such-service" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_several_hosts_are_sentinels_and_need_a_service_name() -> None:
    from anker._drivers import prepare_driver
    from anker.coordination.backends import Backend
    from anker.coordination.backends.redis import RedisBackend

    group = "anker.coordination.backends"
    with pytest.raises(ValueError, match=r"sentinel=mymaster"):
        prepare_driver(group, "redis://h1:6379,h2:6379", Backend)
    backend = prepare_driver(group, "redis://h1,h2:26380/3?sentinel=mymaster", Backend)
    assert isinstance(backend, RedisBackend)
    assert (backend.sentinel, backend.db) == ("mymaster", 3)
