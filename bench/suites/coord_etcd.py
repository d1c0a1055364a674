"""Uncontended acquire + release of one lock on etcd (v3 JSON gateway), pairs per second.

Sides: anker (``Coordinator.lock``, async over httpx: a put-if-absent transaction on the
session's lease and a range read to acquire, a delete to release); tooz's ``etcd3+http``
driver (etcd3gw, blocking: it grants a new lease and runs a put-if-absent transaction to
acquire, a compare-and-delete transaction to release); and two floors doing by hand a
put-if-absent transaction on one lease granted up front and a compare-and-delete transaction,
one round trip each, on an event loop like anker's: through ``httpx.AsyncClient`` (anker's
client: the floor anker is held to), and through a bare HTTP/1.1 keep-alive connection on
asyncio streams (what the HTTP client itself costs).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from bench._harness import Benchmark, Measure, Side
from bench.suites._coord import CALL_TIMEOUT, address, loop_thread, server_url, unique
from bench.suites._uncontended import anker_side, tooz_side


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


Post = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def lock_pairs(post: Post, lease: str) -> Callable[[int], Awaitable[float]]:
    """Acquire + release ``count`` times by hand; pairs per second."""
    key = b64(unique("/_anker_bench_raw/lock"))

    async def pairs(count: int) -> float:
        began = time.perf_counter()
        for _ in range(count):
            token = b64(uuid.uuid4().hex)
            acquired = await post(
                "/v3/kv/txn",
                {
                    "compare": [
                        {"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": 0}
                    ],
                    "success": [{"request_put": {"key": key, "value": token, "lease": lease}}],
                },
            )
            if not acquired.get("succeeded"):
                raise RuntimeError("put-if-absent failed on a free key")
            await post(
                "/v3/kv/txn",
                {
                    "compare": [{"key": key, "target": "VALUE", "result": "EQUAL", "value": token}],
                    "success": [{"request_delete_range": {"key": key}}],
                },
            )
        return count / (time.perf_counter() - began)

    return pairs


@contextlib.contextmanager
def floor_on(call: Callable[[Awaitable[Any]], Any], post: Post) -> Iterator[Measure]:
    lease = call(post("/v3/lease/grant", {"TTL": 60}))["ID"]
    pairs = lock_pairs(post, lease)
    try:
        yield lambda count: call(pairs(count))
    finally:
        with contextlib.suppress(Exception):
            call(post("/v3/lease/revoke", {"ID": lease}), 30.0)


@contextlib.contextmanager
def httpx_floor() -> Iterator[Measure]:
    import httpx

    host, port = address(server_url("etcd"))
    with loop_thread() as call:
        client = httpx.AsyncClient(
            base_url=f"http://{host}:{port}", timeout=CALL_TIMEOUT, trust_env=False
        )

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await client.post(path, json=body)
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return answer

        try:
            with floor_on(call, post) as measure:
                yield measure
        finally:
            call(client.aclose(), 30.0)


@contextlib.contextmanager
def streams_floor() -> Iterator[Measure]:
    host, port = address(server_url("etcd"))
    with loop_thread() as call:
        reader, writer = call(asyncio.wait_for(asyncio.open_connection(host, port), CALL_TIMEOUT))

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            data = json.dumps(body).encode()
            async with asyncio.timeout(CALL_TIMEOUT):
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                )
                writer.write(head.encode() + data)
                head = await reader.readuntil(b"\r\n\r\n")
                status, *fields = head.decode("latin-1").split("\r\n")
                headers = dict(f.split(":", 1) for f in fields if ":" in f)
                length = {k.strip().lower(): v for k, v in headers.items()}.get("content-length")
                if length is None:
                    raise RuntimeError(f"etcd answered without Content-Length: {status}")
                answer: dict[str, Any] = json.loads(await reader.readexactly(int(length)))
            if " 200 " not in status:
                raise RuntimeError(f"etcd answered {status}: {answer}")
            return answer

        try:
            with floor_on(call, post) as measure:
                yield measure
        finally:
            writer.close()


BENCHMARK = Benchmark(
    name="coord-etcd",
    description="uncontended lock acquire + release on etcd",
    unit="pairs/s",
    higher_is_better=True,
    sides=(
        Side("anker (async)", anker_side("etcd"), is_anker=True, requires=("anker", "httpx")),
        Side("tooz etcd3+http", tooz_side("etcd"), requires=("tooz", "etcd3gw")),
        Side("raw httpx txn (floor)", httpx_floor, requires=("httpx",)),
        Side("raw asyncio streams txn", streams_floor),
    ),
    count=300,
    smoke_count=3,
)
