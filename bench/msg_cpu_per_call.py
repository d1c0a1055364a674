"""CPU time per RPC call: anker over ``memory://``, anker over NATS, raw nats-py request/reply.

    python -m bench.msg_cpu_per_call [--runs 5] [--count 3000]

Caller and server share one process and one event loop, and the figure is
``time.process_time()`` per call, which the machine's load barely moves (unlike wall-clock
rates on a shared machine): it tells what anker's RPC layer costs (memory://, no broker), what
the NATS transport adds, and what a bare nats-py round trip costs, one call at a time and with
16 in flight; and a floor: the least work any RPC layer over nats-py does (an envelope each
way as JSON, a method found by name), with and without a task per request. Prints the
median of ``--runs`` runs of each, and raw nats-py's CPU per call over each side's. Uses the
NATS server of the integration tests (``ANKER_TEST_NATS_URL``, default
``nats://127.0.0.1:4222``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

CONCURRENCY = 16


async def _cpu_per_call(call: Callable[[], Awaitable[Any]], count: int, in_flight: int) -> float:
    for _ in range(min(count, 300)):  # warm up
        await call()

    async def caller() -> None:
        for _ in range(count // in_flight):
            await call()

    began = time.process_time()
    await asyncio.gather(*(caller() for _ in range(in_flight)))
    return (time.process_time() - began) / (count // in_flight * in_flight) * 1e6


async def anker(url: str, count: int, in_flight: int) -> float:
    from anker.messaging import RequestContext, RPCClient, RPCServer, Target, connect

    class Echo:
        async def echo(self, context: RequestContext, x: int) -> dict[str, int]:
            return {"x": x}

    topic = f"cpu{uuid.uuid4().hex[:8]}"
    transport = await connect(url)
    try:
        async with RPCServer(transport, Target(topic=topic, server="s1"), [Echo()]):
            client = RPCClient(transport, Target(topic=topic), timeout=60)
            return await _cpu_per_call(lambda: client.call(None, "echo", x=1), count, in_flight)
    finally:
        await transport.aclose()


async def raw_nats(url: str, count: int, in_flight: int) -> float:
    import nats
    import orjson

    server, client = await nats.connect(url), await nats.connect(url)
    subject = f"cpu.{uuid.uuid4().hex[:8]}"

    async def respond(msg: Any) -> None:
        await msg.respond(orjson.dumps({"x": orjson.loads(msg.data)["x"]}))

    try:
        await server.subscribe(subject, queue="cpu", cb=respond)
        await server.flush()
        body = orjson.dumps({"x": 1})
        return await _cpu_per_call(
            lambda: client.request(subject, body, timeout=60), count, in_flight
        )
    finally:
        await server.close()
        await client.close()


async def floor(url: str, count: int, in_flight: int, *, task_per_request: bool) -> float:
    """The least any RPC layer over nats-py does (the thinnest RPC layer of the NATS
    benchmarks: ``thin_rpc_server`` and ``thin_rpc_call``), with or without a task per
    request."""
    import nats

    from bench.suites._msg_worker import thin_rpc_call, thin_rpc_server

    server, client = await nats.connect(url), await nats.connect(url)
    subject = f"cpu.{uuid.uuid4().hex[:8]}"
    try:
        handler = thin_rpc_server(task_per_request=task_per_request)
        await server.subscribe(subject, queue="cpu", cb=handler)
        await server.flush()
        return await _cpu_per_call(thin_rpc_call(client, subject, "cpu"), count, in_flight)
    finally:
        await server.close()
        await client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    url = os.environ.get("ANKER_TEST_NATS_URL", "").strip() or "nats://127.0.0.1:4222"
    sides: dict[str, Callable[[int], Awaitable[float]]] = {
        "anker over memory://": lambda n: anker("memory://cpu", args.count, n),
        "anker over NATS": lambda n: anker(url, args.count, n),
        "raw nats-py request/reply": lambda n: raw_nats(url, args.count, n),
        "floor: least RPC layer": lambda n: floor(url, args.count, n, task_per_request=False),
        "floor, a task per request": lambda n: floor(url, args.count, n, task_per_request=True),
    }
    for in_flight in (1, CONCURRENCY):
        samples: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.runs):  # interleaved, so a noisy spell hits every side
            for name, side in sides.items():
                samples[name].append(await side(in_flight))
        print(f"CPU µs per call, {in_flight} in flight (median of {args.runs} runs):")
        raw = statistics.median(samples["raw nats-py request/reply"])
        for name, values in samples.items():
            median = statistics.median(values)
            print(f"  {name:28} {median:7.0f}   raw nats-py / this: {raw / median:4.2f}")
        # What 0.9x of raw nats-py allows, where the rate is set by CPU per call (with calls
        # in flight, caller and server take turns: a round of them costs both sides' CPU)
        layer = {
            name: statistics.median(samples[name]) - raw
            for name in ("anker over NATS", "floor, a task per request")
        }
        print(
            f"  0.9x of raw leaves {raw / 0.9 - raw:.0f} µs a call for an RPC layer; anker adds "
            f"{layer['anker over NATS']:.0f}, the least layer with a task per request "
            f"{layer['floor, a task per request']:.0f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
