"""The etcd test server keeps a key under a lease (through its v3 JSON gateway)."""

from __future__ import annotations

import base64
import uuid

import pytest

from anker._url import parse_url

pytestmark = pytest.mark.integration


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_round_trip_a_key_under_a_lease(etcd_url: str) -> None:
    import httpx

    endpoint = parse_url(etcd_url).endpoints[0]
    key, value = f"/anker-probe/{uuid.uuid4().hex}", uuid.uuid4().hex
    base = f"http://{endpoint.host}:{endpoint.port or 2379}/v3"
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        lease = (await client.post("/lease/grant", json={"TTL": 30})).raise_for_status().json()
        put = {"key": b64(key), "value": b64(value), "lease": lease["ID"]}
        (await client.post("/kv/put", json=put)).raise_for_status()
        found = (await client.post("/kv/range", json={"key": b64(key)})).raise_for_status().json()
        assert [base64.b64decode(kv["value"]).decode() for kv in found["kvs"]] == [value]
        (await client.post("/lease/revoke", json={"ID": lease["ID"]})).raise_for_status()
        gone = (await client.post("/kv/range", json={"key": b64(key)})).raise_for_status().json()
        assert "kvs" not in gone, "revoking the lease must delete its keys"
