"""The PostgreSQL test server answers and keeps what is written to it."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration


async def test_round_trip_a_value(postgres_url: str) -> None:
    import psycopg

    value = uuid.uuid4().hex
    async with await psycopg.AsyncConnection.connect(postgres_url, connect_timeout=5) as conn:
        await conn.execute("CREATE TEMPORARY TABLE anker_probe (value text NOT NULL)")
        await conn.execute("INSERT INTO anker_probe (value) VALUES (%s)", (value,))
        cursor = await conn.execute("SELECT value FROM anker_probe")
        assert await cursor.fetchall() == [(value,)]
        cursor = await conn.execute("SELECT current_setting('server_version_num')::int")
        row = await cursor.fetchone()
    assert row is not None
    assert row[0] >= 140000, (
        "anker needs PostgreSQL 14 or newer (coordination waits on pg_terminate_backend)"
    )
