"""How long an idle service takes to exit on SIGTERM: what a rolling restart waits for.

Each sample starts the service with a 1 s periodic task (first run at start), waits for that
run, lets it idle for a random 0.2-0.8 s of the interval, then times SIGTERM to exit (the
whole process, interpreter shutdown included): ms, lower is better.
"""

from __future__ import annotations

import random
import signal
import time

from bench._harness import Benchmark, Measure
from bench.suites._service import app, sides

INTERVAL = 1.0


def exit_ms(side: str) -> Measure:
    def measure(count: int) -> float:
        total = 0.0
        for _ in range(count):
            with app(side, INTERVAL) as running:
                running.next("TICK")
                time.sleep(random.uniform(0.2, 0.8))
                began = time.perf_counter()
                running.process.send_signal(signal.SIGTERM)
                running.process.wait(30)
                total += time.perf_counter() - began
        return total / count * 1000

    return measure


BENCHMARK = Benchmark(
    name="service-sigterm",
    description="idle service: SIGTERM to process exit (1 s periodic task)",
    unit="ms",
    higher_is_better=False,
    sides=sides(exit_ms),
    count=1,
    smoke_count=1,
    reps=7,
)
