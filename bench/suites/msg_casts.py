"""RPC casts on RabbitMQ, pipelined, each confirmed by the broker, until the server has all.

``count`` casts of ``record(x=1)``, 64 in flight (each sender casts again as soon as its
previous cast was confirmed), timed from the first send until the server's endpoint has seen
the last one: messages/s. The time to send them all (every confirm in) is an extra.

Sides: anker (``RPCClient.cast`` returns once the broker confirmed it; 64 tasks) against an
``RPCServer``; oslo.messaging (``RPCClient.cast`` blocks until confirmed, so 16 threads carry
its in-flight casts, its connection pool growing to match) against an RPC server with the
threading executor; raw aio-pika, the floor: 64 tasks publishing ``{"x": 1}`` as JSON to the
server's queue through the default exchange on one channel with publisher confirms (so up to
64 confirms pending at once), a server with prefetch 128 that decodes each body and acks it.
"""

from __future__ import annotations

from bench._harness import Benchmark
from bench.suites._msg import LIBS, deliveries, side

BENCHMARK = Benchmark(
    name="msg-casts",
    description="confirmed RPC casts on RabbitMQ, 64 in flight, until all are received",
    unit="msgs/s",
    higher_is_better=True,
    sides=tuple(side(lib, "rpc", deliveries("casts")) for lib in LIBS),
    count=10_000,
    smoke_count=50,
    reps=5,
)
