"""An RPC server's memory after many calls: does it grow with the calls it served?

Each repetition (one by default: run the benchmark again for more) starts a fresh server
process and a calling process, makes ``count / 10`` calls of ``echo(x=1)`` (16 in flight),
reads the server's resident set size, makes the other nine tenths, and reads it again. The
figure is the second over the first (1.00: no growth; the target is at most 1.10); both sizes,
in MiB, are extras. anker's server keeps the replies of its last 10,000 requests (for at most
5 minutes) to answer redeliveries, so the first reading (10,000 calls at the default count) is
taken with that cache full.

Sides as in ``msg-rpc-concurrent``: anker's ``RPCServer``, oslo.messaging's RPC server with
the threading executor, and the raw aio-pika server (the floor). On ``memory://`` (see
``_msg``) anker's client shares the server's process, so its size counts too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from bench._harness import Benchmark, Measure, Measured, Side
from bench.suites._msg import (
    CONCURRENCY,
    LIBS,
    REQUIRES,
    SIDE_NAMES,
    amqp_url,
    anker_url,
    forget,
    rabbit_url,
    unique,
    workers,
)

MIB = 1024 * 1024


def grown(lib: str) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        broker = rabbit_url()
        url = {"anker": anker_url(broker), "oslo": broker, "raw": amqp_url(broker)}[lib]

        def measure(count: int) -> float:
            topic = unique("bench")
            first = max(1, count // 10)
            leftovers: list[str] = []
            try:
                with workers(lib, "rpc", url, topic, leftovers) as (server, client):
                    client.ask("calls", "called", count=first, concurrency=CONCURRENCY)
                    early = server.ask("rss", "rss")["rss"]
                    client.ask("calls", "called", count=count - first, concurrency=CONCURRENCY)
                    late = server.ask("rss", "rss")["rss"]
            finally:
                forget(broker, topic, leftovers)
            return Measured(late / early, {"MiB at 1/10": early / MIB, "MiB at end": late / MIB})

        yield measure

    return opened


BENCHMARK = Benchmark(
    name="msg-server-memory",
    description="RPC server RSS after all calls over RSS after a tenth of them (RabbitMQ)",
    unit="RSS ratio",
    higher_is_better=False,
    sides=tuple(
        Side(
            SIDE_NAMES[lib],
            grown(lib),
            is_anker=lib == "anker",
            requires=REQUIRES[lib],
            # each sample starts fresh processes; oslo's take seconds, and its client and
            # server are smoke-tested by msg-rpc-concurrent
            smoke=lib != "oslo",
        )
        for lib in LIBS
    ),
    count=100_000,
    smoke_count=200,
    reps=1,  # a fresh server per repetition, 100,000 calls each: minutes per side
)
