"""Stopping an idle RPC server on RabbitMQ: the step a rolling upgrade waits for on every process.

Each sample starts ``count`` servers one after another (each on a fresh topic) and times only
their ``stop``: milliseconds per stop, lower is better.

Sides:

* anker: ``await RPCServer.stop()`` (the graceful drain: cancel the consumer, hand back what was
  prefetched, wait for running calls; none here), on one open transport.
* oslo.messaging: ``server.stop()`` then ``server.wait()`` with the threading executor (what a
  service calls to shut down), on one open transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from bench._harness import Benchmark, Measure, Side
from bench.suites._msg import forget, rabbit_url, unique


class Endpoint:
    def echo(self, context: object, x: int) -> int:
        return x


@contextlib.contextmanager
def anker_side() -> Iterator[Measure]:
    from anker.messaging import RPCServer, Target, connect

    url = rabbit_url()

    topics: list[str] = []

    async def stops(count: int) -> float:
        async with await connect(url) as transport:
            spent = 0.0
            for _ in range(count):
                topics.append(unique("stop"))
                server = RPCServer(transport, Target(topic=topics[-1], server="s"), [Endpoint()])
                await server.start()
                began = time.perf_counter()
                await server.stop()
                spent += time.perf_counter() - began
            return spent * 1000 / count

    def measure(count: int) -> float:
        return asyncio.run(stops(count))

    try:
        yield measure
    finally:
        for topic in topics:
            forget(url, topic, [f"{topic}.s"])


@contextlib.contextmanager
def oslo_side() -> Iterator[Measure]:
    import oslo_messaging
    from oslo_config import cfg

    url = rabbit_url()
    cfg.CONF([], project="anker-bench")
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=url)
    topics: list[str] = []

    def measure(count: int) -> float:
        spent = 0.0
        for _ in range(count):
            topics.append(unique("stop"))
            target = oslo_messaging.Target(topic=topics[-1], server="s")
            server = oslo_messaging.get_rpc_server(
                transport, target, [Endpoint()], executor="threading"
            )
            server.start()
            began = time.perf_counter()
            server.stop()
            server.wait()
            spent += time.perf_counter() - began
        return spent * 1000 / count

    try:
        yield measure
    finally:
        transport.cleanup()
        for topic in topics:
            forget(url, topic, [f"{topic}.s"])


BENCHMARK = Benchmark(
    name="msg-server-stop",
    description="stopping an idle RPC server on RabbitMQ",
    unit="ms per stop",
    higher_is_better=False,
    sides=(
        Side("anker (async)", anker_side, is_anker=True, requires=("anker", "aiormq")),
        Side("oslo.messaging (threading)", oslo_side, requires=("oslo_messaging",)),
    ),
    count=5,
    smoke_count=1,
    reps=3,
)
