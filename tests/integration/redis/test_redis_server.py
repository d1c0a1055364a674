"""The Redis test server answers and keeps what is written to it."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration


async def test_round_trip_a_value(redis_url: str) -> None:
    import redis.asyncio as redis

    key, value = f"anker-probe:{uuid.uuid4().hex}", uuid.uuid4().hex
    client = redis.from_url(redis_url, socket_timeout=5)
    try:
        assert await client.set(key, value, px=30_000)
        assert await client.get(key) == value.encode()
        assert 0 < await client.pttl(key) <= 30_000
        assert await client.delete(key) == 1
    finally:
        await client.aclose()
