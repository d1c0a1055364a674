"""How soon a crashed worker is back: SIGKILL of one of two workers to its replacement's
service start (the new process's first line, so fork and the service's start are both in
it): ms, lower is better. Each sample starts the service afresh and kills one worker 2.5 s
after both have started."""

from __future__ import annotations

import os
import signal
import time

from bench._harness import Benchmark, Measure
from bench.suites._service import app, sides

SETTLE = 2.5


def respawn_ms(side: str) -> Measure:
    def measure(count: int) -> float:
        total = 0.0
        for _ in range(count):
            with app(side, 3600.0, workers=2) as running:
                pids = {running.next("WORKER")[0], running.next("WORKER")[0]}
                # past oslo.service's fork throttle (at most one fork a second over `workers`
                # seconds) and anker's crash-loop window (1 s): a plain crash, no backoff
                time.sleep(SETTLE)
                killed = time.time()
                os.kill(min(pids), signal.SIGKILL)
                total += running.next("WORKER")[1] - killed
        return total / count * 1000

    return measure


BENCHMARK = Benchmark(
    name="service-respawn",
    description="SIGKILL of a worker (of 2) to its replacement's service start",
    unit="ms",
    higher_is_better=False,
    sides=sides(respawn_ms),
    count=1,
    smoke_count=1,
    reps=5,
)
