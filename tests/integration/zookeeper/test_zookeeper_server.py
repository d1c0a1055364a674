"""The ZooKeeper test server keeps an ephemeral node for as long as its session lives."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from anker._url import parse_url

pytestmark = pytest.mark.integration


def hosts(zookeeper_url: str) -> str:
    return ",".join(f"{e.host}:{e.port or 2181}" for e in parse_url(zookeeper_url).endpoints)


def round_trip(zookeeper_url: str, value: bytes) -> tuple[bytes, bool]:
    from kazoo.client import KazooClient

    path = f"/anker-probe/{uuid.uuid4().hex}"
    client = KazooClient(hosts=hosts(zookeeper_url), timeout=5)
    client.start(timeout=5)
    try:
        client.create(path, value, ephemeral=True, makepath=True)
        data, _ = client.get(path)
    finally:
        client.stop()
        client.close()
    observer = KazooClient(hosts=hosts(zookeeper_url), timeout=5)
    observer.start(timeout=5)
    try:
        still_there = observer.exists(path) is not None
    finally:
        observer.stop()
        observer.close()
    return data, still_there


async def test_ephemeral_node_round_trip(zookeeper_url: str) -> None:
    value = uuid.uuid4().bytes
    data, still_there = await asyncio.to_thread(round_trip, zookeeper_url, value)
    assert data == value
    assert not still_there, "an ephemeral node must go with its session"
