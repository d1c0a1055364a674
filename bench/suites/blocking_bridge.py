"""Calling a coroutine from synchronous code: anker's blocking bridge against the usual ways.

Sides: anker's ``run_blocking``; anyio's blocking portal (the peer STYLE.md points to);
``asyncio.run`` per call (what naive code does); and the floor, a bare
``run_coroutine_threadsafe`` on a loop thread (what anker builds on, minus its checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

from bench._harness import Benchmark, Measure, Side, fixed


async def noop() -> int:
    return 1


def anker_measure(count: int) -> float:
    from anker._runtime import run_blocking

    began = time.perf_counter()
    for _ in range(count):
        run_blocking(noop())
    return count / (time.perf_counter() - began)


@contextlib.contextmanager
def anyio_portal() -> Iterator[Measure]:
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal() as portal:

        def measure(count: int) -> float:
            began = time.perf_counter()
            for _ in range(count):
                portal.call(noop)
            return count / (time.perf_counter() - began)

        yield measure


def asyncio_run_measure(count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        asyncio.run(noop())
    return count / (time.perf_counter() - began)


@contextlib.contextmanager
def bare_loop_thread() -> Iterator[Measure]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def measure(count: int) -> float:
        began = time.perf_counter()
        for _ in range(count):
            asyncio.run_coroutine_threadsafe(noop(), loop).result()
        return count / (time.perf_counter() - began)

    try:
        yield measure
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


BENCHMARK = Benchmark(
    name="bridge",
    description="blocking calls of a trivial coroutine from a thread",
    unit="calls/s",
    higher_is_better=True,
    sides=(
        Side("anker run_blocking", fixed(anker_measure), is_anker=True, requires=("anker",)),
        Side("anyio blocking portal", anyio_portal, requires=("anyio",)),
        Side("asyncio.run per call", fixed(asyncio_run_measure)),
        Side("bare loop thread (floor)", bare_loop_thread),
    ),
    count=5000,
    smoke_count=10,
)
