"""Periodic drift: a task every 100 ms taking 10 ms, over 31 runs; how much later than
``first + 30 * interval`` the 31st run starts: ms, lower is better (a fixed grid stays near
0 however many runs)."""

from __future__ import annotations

from bench._harness import Benchmark, Measure
from bench.suites._service import app, sides

INTERVAL = 0.1
TICKS = 31


def drift_ms(side: str) -> Measure:
    def measure(count: int) -> float:
        total = 0.0
        for _ in range(count):
            with app(side, INTERVAL, work=0.01) as running:
                ticks = [running.next("TICK")[1] for _ in range(TICKS)]
            total += (ticks[-1] - ticks[0]) - (TICKS - 1) * INTERVAL
        return total / count * 1000

    return measure


BENCHMARK = Benchmark(
    name="service-drift",
    description=f"lateness of run {TICKS} of a {INTERVAL * 1000:g} ms periodic task (10 ms work)",
    unit="ms",
    higher_is_better=False,
    sides=sides(drift_ms),
    count=1,
    smoke_count=1,
    reps=5,
)
