"""Faults on every backend: a holder killed, a holder paused past its lease, a partition.

A killed process (SIGKILL) cannot release anything; what it held must come free within its
lease. A paused process (SIGSTOP) comes back believing it still holds its lock: the fence must
refuse its write. A partitioned client must be told it lost its lock, and must not hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from anker.coordination import BackendUnavailable, Coordinator, fencing
from coordination_support import LEASE, NETWORK_BACKENDS, OpenCoordinator
from servers import SERVERS, require_server
from tcp_proxy import TCPProxy, through

pytestmark = pytest.mark.integration

CHILD = Path(__file__).with_name("coordination_child.py")
WITHIN_LEASE = 3 * LEASE + 3


@contextlib.asynccontextmanager
async def child(
    url: str, prefix: str, mode: str, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        url,
        prefix,
        str(LEASE),
        mode,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
            await process.wait()


async def said(process: asyncio.subprocess.Process, timeout: float = 30) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout)
    assert line, "the child exited without a word"
    event: dict[str, Any] = json.loads(line)
    return event


async def test_what_a_killed_process_held_comes_free_within_its_lease(
    backend_url: str, prefix: str, coordinator: OpenCoordinator
) -> None:
    survivor = await coordinator("survivor")
    left = asyncio.Event()
    async with child(backend_url, prefix, "hold") as process:
        ready = await said(process)
        watch = survivor.group("g").watch(on_leave=lambda member: left.set())
        await watch.started.wait()
        election = survivor.election("e")
        await election.campaign()
        lock = survivor.lock("l")
        waiting = asyncio.create_task(lock.acquire())
        await asyncio.sleep(0.2)
        assert not waiting.done()
        killed = time.monotonic()
        process.kill()
        assert await asyncio.wait_for(waiting, WITHIN_LEASE)
        lock_free = time.monotonic() - killed
        assert await election.wait_elected(WITHIN_LEASE)
        await asyncio.wait_for(left.wait(), WITHIN_LEASE)
        replaced = time.monotonic() - killed
    assert lock.token > ready["token"]
    assert lock_free < WITHIN_LEASE
    assert replaced < WITHIN_LEASE
    await watch.stop()


async def test_a_paused_holders_write_is_refused_by_the_fence(
    backend_url: str, prefix: str, coordinator: OpenCoordinator, postgres_url: str
) -> None:
    import psycopg

    schema = f"fence_{uuid.uuid4().hex[:12]}"
    dsn = postgres_url
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as db:
        await db.execute(f"CREATE SCHEMA {schema}")
        try:
            await db.execute(f"SET search_path = {schema}")
            create, _ = fencing.postgres_statements()
            await db.execute(create)
            await db.execute("CREATE TABLE fenced_writes (writer text NOT NULL)")
            child_dsn = f"{dsn}?options=-csearch_path%3D{schema}"
            async with child(
                backend_url, prefix, "fenced", {"ANKER_FENCE_DSN": child_dsn}
            ) as process:
                paused_token = (await said(process))["token"]
                os.kill(process.pid, signal.SIGSTOP)
                # the paused holder cannot renew: its lease runs out and we get the lock
                successor = (await coordinator("successor")).lock("l")
                assert await successor.acquire(timeout=WITHIN_LEASE + 5)
                assert successor.token > paused_token
                async with db.transaction():
                    await fencing.claim_postgres(db, "resource", successor.token)
                    await db.execute("INSERT INTO fenced_writes VALUES ('successor')")
                os.kill(process.pid, signal.SIGCONT)
                assert process.stdin is not None
                process.stdin.write(b"write now\n")
                await process.stdin.drain()
                outcome = await said(process)
            assert outcome == {"event": "refused", "lost": True, "callback": 1}
            rows = await (await db.execute("SELECT writer FROM fenced_writes")).fetchall()
            assert rows == [("successor",)]
        finally:
            await db.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=NETWORK_BACKENDS)
def network_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_partitioned_holder_is_told_it_lost_the_lock_and_nothing_hangs(
    network_backend: str, prefix: str
) -> None:
    url = require_server(network_backend)
    proxy = TCPProxy(SERVERS[network_backend].address())
    await proxy.start()
    partitioned = await Coordinator.connect(
        through(url, proxy.port), member_id="partitioned", lease=LEASE, timeout=2.0, prefix=prefix
    )
    other = await Coordinator.connect(url, member_id="other", lease=LEASE, prefix=prefix)
    try:
        lock = partitioned.lock("l")
        await lock.acquire()
        token = lock.token
        await proxy.cut()
        cut = time.monotonic()
        lost = await asyncio.wait_for(lock.wait_lost(), WITHIN_LEASE)
        assert lost.token == token
        assert time.monotonic() - cut < WITHIN_LEASE
        # the others get the lock once the server lets the old lease go
        replacement = other.lock("l")
        assert await replacement.acquire(timeout=WITHIN_LEASE + 5)
        assert replacement.token > token
        # calls through the cut fail within the timeout instead of hanging
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as raised:
            await partitioned.group("g").members()
        assert time.monotonic() - started < 2.0 + 1.5
        assert "failed" in str(raised.value)
        # healed: the partitioned coordinator gets a new session and queues again
        await proxy.restore()
        await lock.release()
        waiting = asyncio.create_task(lock.acquire(timeout=WITHIN_LEASE + 5))
        await asyncio.sleep(0.3)
        await replacement.release()
        assert await waiting
        assert lock.token > replacement._token  # type: ignore[operator]
        # closing while cut off neither raises nor hangs: the lease frees what it held
        await proxy.cut()
        started = time.monotonic()
        await partitioned.aclose()
        assert time.monotonic() - started < 2.0 + 1.5
        assert await other.lock("l").acquire(timeout=WITHIN_LEASE + 5)
    finally:
        await proxy.cut()
        for coordinator in (partitioned, other):
            with contextlib.suppress(Exception):
                await coordinator.aclose()


async def test_an_unreachable_backend_fails_within_the_timeout_without_the_password(
    network_backend: str,
) -> None:
    proxy = TCPProxy(("127.0.0.1", 9))
    await proxy.start()
    port = proxy.port
    await proxy.cut()  # nothing listens there now
    template = {
        "redis": "redis://:s3cr3t-pw@127.0.0.1:{port}/0",
        "postgresql": "postgresql://anker:s3cr3t-pw@127.0.0.1:{port}/db",
        "etcd": "etcd://anker:s3cr3t-pw@127.0.0.1:{port}",
        "zookeeper": "zookeeper://127.0.0.1:{port}",
    }[network_backend]
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as raised:
        await Coordinator.connect(template.format(port=port), timeout=1.0)
    assert time.monotonic() - started < 1.0 + 1.5
    assert "s3cr3t-pw" not in str(raised.value)
    assert f"127.0.0.1:{port}" in str(raised.value)
