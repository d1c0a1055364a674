"""Start-up: from spawning the service's process to its periodic task's first run (which is
due at start): ms, lower is better. Python's own start-up and imports are in it."""

from __future__ import annotations

from bench._harness import Benchmark, Measure
from bench.suites._service import app, sides


def startup_ms(side: str) -> Measure:
    def measure(count: int) -> float:
        total = 0.0
        for _ in range(count):
            with app(side, 3600.0) as running:
                total += running.next("TICK")[1] - running.spawned
        return total / count * 1000

    return measure


BENCHMARK = Benchmark(
    name="service-startup",
    description="process spawn to the first periodic run",
    unit="ms",
    higher_is_better=False,
    sides=sides(startup_ms),
    count=1,
    smoke_count=1,
    reps=7,
)
