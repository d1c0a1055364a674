"""Four processes contending for one lock on etcd for a fixed time (see ``_contended``).

Sides: anker (async workers, lock queue woken by etcd's watch stream) and tooz's
``etcd3+http`` driver (blocking workers; a waiter retries its transaction with a back-off of
up to 1 s, granting a new lease each try).
"""

from __future__ import annotations

from bench._harness import Benchmark, Side
from bench.suites._contended import contended_side

BENCHMARK = Benchmark(
    name="coord-contended-etcd",
    description="4 processes contending for one lock on etcd (1 ms holds)",
    unit="acquisitions/s",
    higher_is_better=True,
    sides=(
        Side(
            "anker (async)",
            contended_side("etcd", "anker"),
            is_anker=True,
            requires=("anker", "httpx"),
        ),
        Side("tooz etcd3+http", contended_side("etcd", "tooz"), requires=("tooz", "etcd3gw")),
    ),
    count=10,  # seconds of contention per rep
    smoke_count=1,
    reps=5,
)
