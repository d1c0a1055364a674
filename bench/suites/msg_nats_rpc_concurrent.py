"""RPC calls on NATS with 16 in flight: one calling process, one server.

``count`` calls of ``echo(x=1)`` from 16 concurrent callers (asyncio tasks on one
connection), each sending its next call as soon as its previous one returned: calls/s, with
the p50 and p99 latency of one call as extras. The sides are those of
``msg-nats-rpc-sequential``.
"""

from __future__ import annotations

from bench._harness import Benchmark
from bench.suites._msg import CONCURRENCY, calls
from bench.suites._msg_nats import SIDES, side

BENCHMARK = Benchmark(
    name="msg-nats-rpc-concurrent",
    description=f"RPC calls on NATS (and anker on RabbitMQ), {CONCURRENCY} in flight",
    unit="calls/s",
    higher_is_better=True,
    sides=tuple(side(name, calls(CONCURRENCY)) for name in SIDES),
    count=5000,
    smoke_count=32,
)
