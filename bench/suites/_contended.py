"""Four processes contending for one lock for a fixed time: acquisitions/s, fairness, worst wait.

Each side starts ``PROCESSES`` worker processes (``_coord_worker contend``), waits until all
are connected, then gives them one common window of ``count`` seconds (``count`` is seconds
here). Each worker acquires the lock, holds it ``HOLD`` seconds, releases it and asks again
at once, until the window closes. The figure is acquisitions completed inside the window, per
second, all workers together; the extras are **fairness**, the largest share of acquisitions
one worker got over the smallest (1 is perfectly fair; inf means a worker never got the lock),
and the **worst wait**, the longest time one acquire call took, in ms.

anker's waiters are woken by the backend's watch and served first come first served; tooz's
blocking acquire polls (redis-py's lock retries every 0.1 s, tooz's etcd lock backs off up
to 1 s), so a worker that just released usually wins again, which saves it the hand-over to
another process: a round trip and a wake-up of that process. The ``baton`` side (Redis) is
the floor of a fair hand-over: the workers pass a baton round with RPUSH and BLPOP.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from bench._harness import Measure, Measured
from bench.suites._coord import (
    READY_TIMEOUT,
    TOOZ_REDIS_NAMESPACE,
    children,
    forget_tooz_redis_keys,
    server_url,
    tooz_url,
    unique,
)
from bench.suites._coord_worker import GRACE

PROCESSES = 4
HOLD = 0.001
#: time between telling the workers the window and its start (they are all connected by then)
LEAD = 0.5


def contended_side(server: str, lib: str) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        url = server_url(server)
        namespace = unique(TOOZ_REDIS_NAMESPACE)

        def measure(seconds: int) -> float:
            lock = unique("l")
            if lib == "anker":
                base = {"lib": "anker", "url": url, "prefix": unique("b")}
            elif lib == "baton":
                base = {"lib": "baton", "url": url, "workers": PROCESSES}
            else:
                options = {"namespace": namespace} if server == "redis" else {}
                base = {"lib": "tooz", "url": tooz_url(server, url, **options)}
            with children() as start:
                workers = [
                    start(
                        base
                        | {"role": "contend", "member": f"w{i}", "index": i}
                        | {"lock": lock, "hold": HOLD}
                    )
                    for i in range(PROCESSES)
                ]
                deadline = time.monotonic() + READY_TIMEOUT
                for worker in workers:
                    worker.expect("ready", deadline)
                begin = time.monotonic() + LEAD
                end = begin + seconds
                for worker in workers:
                    worker.send(f"{begin} {end}")
                deadline = end + GRACE + READY_TIMEOUT
                done = [worker.expect("done", deadline) for worker in workers]
            return summarize(done, seconds)

        try:
            yield measure
        finally:
            if lib == "tooz" and server == "redis":
                forget_tooz_redis_keys(url, namespace)

    return opened


def summarize(done: list[dict[str, Any]], seconds: float) -> Measured:
    counts = [report["count"] for report in done]
    if any(report["timeouts"] for report in done):
        raise RuntimeError(f"an acquisition waited longer than {GRACE} s past the window")
    fairness = max(counts) / min(counts) if min(counts) else float("inf")
    return Measured(
        sum(counts) / seconds,
        {
            "fairness max/min": fairness,
            "worst wait ms": max(report["worst_wait"] for report in done) * 1000,
        },
    )
