"""Calls/s and CPU per call of each side, caller and server in processes of their own, on NATS.

    python -m bench.msg_cpu_split [--count 10000] [--in-flight 16] [--runs 3]

For anker over NATS, the thinnest RPC layer over nats-py and raw nats-py request/reply (the
sides of ``msg-nats-rpc-*``), runs a server process and a calling process and prints the calls/s
and the CPU time per call of each (``time.process_time()``, measured around the calls only),
medians of ``--runs`` runs, and the calls/s one over the two sides' CPU per call would give.
With calls in flight the two take turns (a round of requests, then a round of replies), so
that estimate comes close to the measured rate: it shows the rate is set by CPU per call.
Uses ``ANKER_TEST_NATS_URL`` (default ``nats://127.0.0.1:4222``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from multiprocessing.synchronize import Event
from typing import Any

SIDES = ("anker", "thin", "raw")


async def _serve(side: str, url: str, topic: str) -> Any:
    """Start ``side``'s server; returns what to close."""
    if side == "anker":
        from anker.messaging import RequestContext, RPCServer, Target, connect

        class Echo:
            async def echo(self, context: RequestContext, x: int) -> dict[str, int]:
                return {"x": x}

        transport = await connect(url)
        server = RPCServer(transport, Target(topic=topic, server="s1"), [Echo()])
        await server.start()
        return transport
    import nats
    import orjson

    from bench.suites._msg_worker import thin_rpc_server

    async def respond(msg: Any) -> None:
        await msg.respond(orjson.dumps({"x": orjson.loads(msg.data)["x"]}))

    nc = await nats.connect(url)
    await nc.subscribe(
        f"cpu.{topic}", queue="cpu", cb=thin_rpc_server() if side == "thin" else respond
    )
    await nc.flush()
    return nc


async def _caller(side: str, url: str, topic: str) -> tuple[Callable[[], Awaitable[Any]], Any]:
    """``side``'s call of ``echo(x=1)``, and what to close."""
    if side == "anker":
        from anker.messaging import RPCClient, Target, connect

        transport = await connect(url)
        client = RPCClient(transport, Target(topic=topic), timeout=60)
        return (lambda: client.call(None, "echo", x=1)), transport
    import nats
    import orjson

    from bench.suites._msg_worker import thin_rpc_call

    nc = await nats.connect(url)
    if side == "thin":
        return thin_rpc_call(nc, f"cpu.{topic}", topic), nc
    body = orjson.dumps({"x": 1})
    return (lambda: nc.request(f"cpu.{topic}", body, timeout=60)), nc


def _server_process(
    side: str, url: str, topic: str, events: tuple[Event, Event, Event], answer: Any
) -> None:
    ready, begin, end = events

    async def main() -> None:
        closing = await _serve(side, url, topic)
        ready.set()
        await asyncio.to_thread(begin.wait)  # a thread blocked on it costs no CPU
        began = time.process_time()
        await asyncio.to_thread(end.wait)
        used = time.process_time() - began
        await (closing.aclose() if side == "anker" else closing.close())
        answer.put(used)

    asyncio.run(main())


async def _calls(
    side: str, url: str, topic: str, *, count: int, in_flight: int, begin: Event, end: Event
) -> tuple[float, float]:
    call, closing = await _caller(side, url, topic)
    for _ in range(300):  # warm up
        await call()

    async def caller() -> None:
        for _ in range(count // in_flight):
            await call()

    begin.set()
    began, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(in_flight)))
    used, wall = time.process_time() - began, time.perf_counter() - wall
    end.set()
    await (closing.aclose() if side == "anker" else closing.close())
    return used, wall


def run(side: str, url: str, count: int, in_flight: int) -> tuple[float, float, float]:
    """One run: (calls/s, the caller's CPU µs per call, the server's)."""
    topic = f"split{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("spawn")
    ready, begin, end = context.Event(), context.Event(), context.Event()
    answer = context.Queue()
    server = context.Process(
        target=_server_process, args=(side, url, topic, (ready, begin, end), answer)
    )
    server.start()
    try:
        if not ready.wait(60):
            raise RuntimeError(f"the {side} server did not start")
        done = count // in_flight * in_flight
        caller_cpu, wall = asyncio.run(
            _calls(side, url, topic, count=done, in_flight=in_flight, begin=begin, end=end)
        )
        server_cpu = float(answer.get(timeout=60))
    finally:
        server.join(30)
    return done / wall, caller_cpu / done * 1e6, server_cpu / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("ANKER_TEST_NATS_URL", "").strip() or "nats://127.0.0.1:4222"
    samples: dict[str, list[tuple[float, float, float]]] = {side: [] for side in SIDES}
    for _ in range(args.runs):  # interleaved, so a noisy spell hits every side
        for side in SIDES:
            samples[side].append(run(side, url, args.count, args.in_flight))
    print(f"{args.in_flight} in flight, medians of {args.runs} runs of {args.count} calls:")
    print(
        f"  {'side':6} {'calls/s':>8} {'caller µs':>10} {'server µs':>10} {'1/(both) calls/s':>17}"
    )
    for side, runs in samples.items():
        rate, caller, server = (statistics.median(values) for values in zip(*runs, strict=True))
        print(
            f"  {side:6} {rate:8.0f} {caller:10.1f} {server:10.1f} {1e6 / (caller + server):17.0f}"
        )


if __name__ == "__main__":
    main()
