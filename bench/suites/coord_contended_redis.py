"""Four processes contending for one lock on Redis for a fixed time (see ``_contended``).

Sides: anker (async workers, lock queue woken by the backend's watch), tooz's redis driver
(blocking workers; redis-py's lock polls every 0.1 s while it waits), and the floor of a fair
hand-over: a baton passed round the workers with redis-py's RPUSH and BLPOP.
"""

from __future__ import annotations

from bench._harness import Benchmark, Side
from bench.suites._contended import contended_side

BENCHMARK = Benchmark(
    name="coord-contended-redis",
    description="4 processes contending for one lock on Redis (1 ms holds)",
    unit="acquisitions/s",
    higher_is_better=True,
    sides=(
        Side(
            "anker (async)",
            contended_side("redis", "anker"),
            is_anker=True,
            requires=("anker", "redis"),
        ),
        Side("tooz redis", contended_side("redis", "tooz"), requires=("tooz", "redis")),
        Side(
            "raw baton ring (fair floor)",
            contended_side("redis", "baton"),
            requires=("redis",),
        ),
    ),
    count=10,  # seconds of contention per rep
    smoke_count=1,
    reps=5,
)
