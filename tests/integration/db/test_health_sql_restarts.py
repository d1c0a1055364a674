"""/readyz follows a private database server (PostgreSQL, MariaDB) that the test stops and
starts again, through ``anker.health.check_engine`` (``SELECT 1``), without restarting the
service. Never the shared servers."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from private_servers import PrivateServer

from anker.db import create_async_engine, create_engine
from anker.health import Health, HealthServer, check_engine, check_event_loop

pytestmark = pytest.mark.integration

#: the issue's bound for /readyz to follow the database (the refresher runs every 0.25 s)
WITHIN = 2.0


async def _status_within(client: httpx.AsyncClient, wanted: int, timeout: float) -> float:
    started = time.monotonic()
    while True:
        answer = await client.get("/readyz")
        elapsed = time.monotonic() - started
        if answer.status_code == wanted:
            return elapsed
        assert elapsed < timeout, f"/readyz still {answer.status_code} after {timeout} s"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_readyz_follows_a_private_database(
    private_server: PrivateServer, flavour: str
) -> None:
    if flavour == "sync":
        engine = create_engine(private_server.url, connect_timeout="1s")
    else:
        engine = create_async_engine(private_server.url, connect_timeout="1s")
    health = Health(interval=0.25, timeout=1.0, discover=False)
    health.add(check_event_loop())
    health.add(check_engine(engine))
    try:
        async with (
            health,
            HealthServer(health, port=0) as server,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client,
        ):
            assert (await client.get("/readyz")).status_code == 200
            await asyncio.to_thread(private_server.stop)
            failed = await _status_within(client, 503, WITHIN)
            assert (await client.get("/livez")).status_code == 200
            private_server.launch()  # from this (the main) thread: see PrivateServer.launch
            await asyncio.to_thread(private_server.wait_ready)
            back = await _status_within(client, 200, WITHIN)
            print(
                f"\n{private_server.name} ({flavour}): /readyz 503 after {failed:.2f} s,"
                f" 200 again after {back:.2f} s"
            )
    finally:
        result = engine.dispose()
        if result is not None:
            await result
