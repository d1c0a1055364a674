"""The MariaDB test server answers and keeps what is written to it."""

from __future__ import annotations

import uuid

import pytest

from anker._url import parse_url

pytestmark = pytest.mark.integration


async def test_round_trip_a_value(mariadb_url: str) -> None:
    import aiomysql

    url = parse_url(mariadb_url)
    endpoint = url.endpoints[0]
    value = uuid.uuid4().hex
    conn = await aiomysql.connect(
        host=endpoint.host,
        port=endpoint.port or 3306,
        user=endpoint.username or "root",
        password=endpoint.password.reveal() if endpoint.password else "",
        db=url.path.lstrip("/") or "test",
        connect_timeout=5,
    )
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("CREATE TEMPORARY TABLE anker_probe (value VARCHAR(64) NOT NULL)")
            await cursor.execute("INSERT INTO anker_probe (value) VALUES (%s)", (value,))
            await cursor.execute("SELECT value FROM anker_probe")
            assert await cursor.fetchall() == ((value,),)
    finally:
        conn.close()
