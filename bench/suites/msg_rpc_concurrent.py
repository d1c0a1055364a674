"""RPC calls on RabbitMQ with 16 in flight: one calling process, one server.

``count`` calls of ``echo(x=1)`` from 16 concurrent callers, each sending its next call as
soon as its previous one returned: calls/s, with the p50 and p99 latency of one call as
extras. The callers are 16 asyncio tasks on one transport (anker, aio-pika) or 16 threads
sharing one transport (oslo.messaging's client blocks). The sides and the raw floor are those
of ``msg-rpc-sequential``.
"""

from __future__ import annotations

from bench._harness import Benchmark
from bench.suites._msg import CONCURRENCY, LIBS, calls, side

BENCHMARK = Benchmark(
    name="msg-rpc-concurrent",
    description=f"RPC calls on RabbitMQ, {CONCURRENCY} in flight from one process",
    unit="calls/s",
    higher_is_better=True,
    sides=tuple(side(lib, "rpc", calls(CONCURRENCY)) for lib in LIBS),
    count=5000,
    smoke_count=32,
)
