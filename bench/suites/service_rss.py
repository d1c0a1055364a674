"""Memory: the resident set of a one-process service after its periodic task's second run:
MiB, lower is better."""

from __future__ import annotations

from pathlib import Path

from bench._harness import Benchmark, Measure
from bench.suites._service import app, sides


def rss_mib(side: str) -> Measure:
    def measure(count: int) -> float:
        total = 0.0
        for _ in range(count):
            with app(side, 0.1) as running:
                pid = running.next("TICK")[0]
                running.next("TICK")
                status = Path(f"/proc/{pid}/status").read_text()
            kib = next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            total += kib / 1024
        return total / count

    return measure


BENCHMARK = Benchmark(
    name="service-rss",
    description="resident memory of a one-process service with a periodic task",
    unit="MiB",
    higher_is_better=False,
    sides=sides(rss_mib),
    count=1,
    smoke_count=1,
    reps=5,
)
