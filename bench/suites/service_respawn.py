"""How soon a crashed worker is back: SIGKILL of one of two workers to its replacement's
service start (the new process's first line, so fork and the service's start are both in
it): ms, lower is better."""

from __future__ import annotations

import os
import signal
import time

from bench._harness import Benchmark, Measure
from bench.suites._service import app, sides


def respawn_ms(side: str) -> Measure:
    def measure(count: int) -> float:
        total = 0.0
        with app(side, 3600.0, workers=2) as running:
            pids = {running.next("WORKER")[0], running.next("WORKER")[0]}
            for _ in range(count):
                time.sleep(0.5)  # settled
                victim = sorted(pids)[0]
                killed = time.time()
                os.kill(victim, signal.SIGKILL)
                pid, started = running.next("WORKER")
                pids = (pids - {victim}) | {pid}
                total += started - killed
        return total / count * 1000

    return measure


BENCHMARK = Benchmark(
    name="service-respawn",
    description="SIGKILL of a worker (of 2) to its replacement's service start",
    unit="ms",
    higher_is_better=False,
    sides=sides(respawn_ms),
    count=3,
    smoke_count=1,
    reps=5,
)
