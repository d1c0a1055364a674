"""Uncontended acquire + release of one lock on Redis, pairs per second.

Sides: anker (``Coordinator.lock``, async: put + read to acquire, delete to release); tooz's
redis driver (``get_lock``/``acquire``/``release``, blocking: redis-py's ``SET NX PX`` and a
compare-and-delete script); and two floors, the same two commands by hand (``SET key token NX PX``,
then an ``EVALSHA`` that deletes the key only if it still holds the token; one round trip each,
nothing else): through ``redis.asyncio`` on an event loop like anker's (the floor anker is held
to), and through redis-py's blocking client, as tooz uses it (what async costs per round trip).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

from bench._harness import Benchmark, Measure, Side
from bench.suites._coord import CALL_TIMEOUT, address, loop_thread, server_url, unique
from bench.suites._uncontended import anker_side, tooz_side

RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


@contextlib.contextmanager
def raw_floor() -> Iterator[Measure]:
    import redis.asyncio

    host, port = address(server_url("redis"))
    with loop_thread() as call:
        client = redis.asyncio.Redis(
            host=host, port=port, socket_timeout=CALL_TIMEOUT, socket_connect_timeout=CALL_TIMEOUT
        )
        release = client.register_script(RELEASE)
        key = unique("_anker_bench_raw_lock_")

        async def pairs(count: int) -> float:
            began = time.perf_counter()
            for _ in range(count):
                token = uuid.uuid4().hex
                if not await client.set(key, token, nx=True, px=30_000):
                    raise RuntimeError("SET NX failed on a free key")
                await release(keys=[key], args=[token])
            return count / (time.perf_counter() - began)

        try:
            yield lambda count: call(pairs(count))
        finally:
            call(client.aclose(), 30.0)


@contextlib.contextmanager
def raw_sync_floor() -> Iterator[Measure]:
    import redis

    host, port = address(server_url("redis"))
    client = redis.Redis(
        host=host, port=port, socket_timeout=CALL_TIMEOUT, socket_connect_timeout=CALL_TIMEOUT
    )
    release = client.register_script(RELEASE)
    key = unique("_anker_bench_raw_lock_")

    def measure(count: int) -> float:
        began = time.perf_counter()
        for _ in range(count):
            token = uuid.uuid4().hex
            if not client.set(key, token, nx=True, px=30_000):
                raise RuntimeError("SET NX failed on a free key")
            release(keys=[key], args=[token])
        return count / (time.perf_counter() - began)

    try:
        yield measure
    finally:
        client.close()


BENCHMARK = Benchmark(
    name="coord-redis",
    description="uncontended lock acquire + release on Redis",
    unit="pairs/s",
    higher_is_better=True,
    sides=(
        Side("anker (async)", anker_side("redis"), is_anker=True, requires=("anker", "redis")),
        Side("tooz redis", tooz_side("redis"), requires=("tooz", "redis")),
        Side("raw redis.asyncio (floor)", raw_floor, requires=("redis",)),
        Side("raw redis sync", raw_sync_floor, requires=("redis",)),
    ),
    count=2000,
    smoke_count=5,
)
