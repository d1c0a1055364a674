"""Every limits store on its real server, for the limits conformance suite.

A test that takes ``store_url`` runs once per store (ids: sqlite, postgresql, redis). Each test
gets a store of its own: a fresh SQLite file, a fresh PostgreSQL database (created and dropped
around the test; the store's tables have fixed names) or a fresh Redis key prefix.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import servers
from anker.limits import Quota
from servers import require_server

#: every store; those that need a server are integration tests, sqlite runs in `make unit`
STORES = (
    "sqlite",
    *(pytest.param(name, marks=pytest.mark.integration) for name in ("postgresql", "redis")),
)


def fresh_postgres(server: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server at ``server`` (its URL), dropped after."""
    return servers.fresh_postgres(server, "limits")


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store of one kind (the test runs once for each)."""
    name = request.param
    if name == "sqlite":
        yield f"sqlite://{tmp_path}/limits.db"
    elif name == "postgresql":
        yield from fresh_postgres(require_server("postgresql"))
    else:
        yield from fresh_redis(require_server("redis"), f"t{uuid.uuid4().hex[:12]}:")


def fresh_redis(server: str, prefix: str) -> Iterator[str]:
    """The Redis server at ``server`` with a fresh key prefix, its keys deleted after."""
    import redis

    try:
        yield f"{server}?prefix={prefix}"
    finally:
        client = redis.Redis.from_url(server)
        try:
            keys = list(client.scan_iter(f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


OpenQuota = Callable[..., Awaitable[Quota]]


@pytest.fixture
async def open_quota(store_url: str) -> AsyncIterator[OpenQuota]:
    """Open quotas on the test's store (migrated on first open); all closed at the end."""
    opened: list[Quota] = []

    async def open_(**options: Any) -> Quota:
        quota = await Quota.open(store_url, upgrade=not opened, **options)
        opened.append(quota)
        return quota

    yield open_
    for quota in opened:
        await quota.aclose()


async def three_levels(quota: Quota, *, top: int = -1, middle: int = -1, leaf: int = -1) -> None:
    """domain > project > leaf, with the given limits of ``cores`` (default unlimited)."""
    await quota.set_default("cores", -1)
    await quota.set_project("domain")
    await quota.set_project("project", "domain")
    await quota.set_project("leaf", "project")
    for name, value in (("domain", top), ("project", middle), ("leaf", leaf)):
        await quota.set_limit(name, "cores", value)
