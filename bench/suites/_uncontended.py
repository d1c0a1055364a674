"""Uncontended acquire + release pairs of one lock, on one server: anker and tooz sides.

Each side opens its client once (outside the timing) and reuses one lock object, as a service
holding a lock in a loop would; the figure is acquire+release pairs per second. anker's side
is async, on an event loop that runs in a thread for the whole benchmark (so its session is
renewed in the background, as in a service); tooz's is its own blocking API, heartbeat thread
running.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from bench._harness import Measure
from bench.suites._coord import (
    TOOZ_REDIS_NAMESPACE,
    anker_coordinator,
    forget_tooz_redis_keys,
    loop_thread,
    server_url,
    tooz_coordinator,
    tooz_url,
    unique,
)


def anker_side(server: str) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        url = server_url(server)
        with loop_thread() as call, anker_coordinator(call, url, prefix=unique("b")) as coord:
            lock = coord.lock("bench")

            async def pairs(count: int) -> float:
                began = time.perf_counter()
                for _ in range(count):
                    await lock.acquire()
                    await lock.release()
                return count / (time.perf_counter() - began)

            yield lambda count: call(pairs(count))

    return opened


def tooz_side(server: str) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        url = server_url(server)
        namespace = unique(TOOZ_REDIS_NAMESPACE)
        options = {"namespace": namespace} if server == "redis" else {}
        try:
            with tooz_coordinator(tooz_url(server, url, **options), unique("m")) as coordinator:
                lock = coordinator.get_lock(unique("bench").encode())

                def measure(count: int) -> float:
                    began = time.perf_counter()
                    for _ in range(count):
                        if not lock.acquire():
                            raise RuntimeError("tooz did not acquire a free lock")
                        lock.release()
                    return count / (time.perf_counter() - began)

                yield measure
        finally:
            if server == "redis":
                forget_tooz_redis_keys(url, namespace)

    return opened
