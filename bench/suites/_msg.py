"""What the messaging benchmarks share: the broker, names, worker processes, the sides.

Every side runs in processes of its own (``python -m bench.suites._msg_worker``): one for the
server (an RPC server or a notification listener) and one for the client (caller, caster or
notifier), as in a deployment, so no side shares a GIL, an event loop or a connection with
another, and the idle processes of the other sides cost nothing while one side is measured.
The parent only gives orders and reads the answers; every time is ``time.monotonic()``, one
clock for every process of the machine.

The broker is the integration tests': ``ANKER_TEST_RABBIT_URL`` (default
``rabbit://guest:guest@127.0.0.1:5672/``). anker and oslo.messaging get that URL as it is,
aio-pika the same with ``amqp://``. ``ANKER_BENCH_MESSAGING_URL`` points anker's side
elsewhere (``memory://``: client and server then share one process and its in-process
broker), to measure anker's own overhead without a broker. Every run uses a fresh topic, and
the queues and exchanges it made are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench._harness import Measure, Measured, Side, Unavailable
from bench.suites._jsonl import JsonLinesProcess

RABBIT_VARIABLE = "ANKER_TEST_RABBIT_URL"
RABBIT_DEFAULT = "rabbit://guest:guest@127.0.0.1:5672/"
ANKER_URL_VARIABLE = "ANKER_BENCH_MESSAGING_URL"
#: how long a worker may take to start, connect and say it is ready
READY_TIMEOUT = 60.0
#: how long one order (a whole repetition) may take
ORDER_TIMEOUT = 900.0
#: the calls in flight of the concurrent workloads, and the casts/notifications in flight
CONCURRENCY = 16
WINDOW = 64
#: the server a call goes to: ``topic`` is served by one server, named so
SERVER = "s1"

LIBS = ("anker", "oslo", "raw")
SIDE_NAMES = {
    "anker": "anker (async)",
    "oslo": "oslo.messaging (threading)",
    "raw": "raw aio-pika (floor)",
}
REQUIRES: dict[str, tuple[str, ...]] = {
    "anker": ("anker", "aio_pika"),
    "oslo": ("oslo_messaging", "oslo_config"),
    "raw": ("aio_pika",),
}


def rabbit_url() -> str:
    """The broker's URL (as oslo.messaging and anker spell it), after checking it answers."""
    url = os.environ.get(RABBIT_VARIABLE, "").strip() or RABBIT_DEFAULT
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    try:
        with socket.create_connection((host, port), timeout=2.0):
            pass
    except OSError as exc:
        raise Unavailable(f"RabbitMQ is not reachable at {host}:{port}: {exc}") from exc
    return url


def amqp_url(url: str) -> str:
    """The same broker as aio-pika names it."""
    return urlunsplit(urlsplit(url)._replace(scheme="amqp"))


def anker_url(broker: str) -> str:
    """anker's URL: the broker's, unless ``ANKER_BENCH_MESSAGING_URL`` says otherwise."""
    url = os.environ.get(ANKER_URL_VARIABLE, "").strip() or broker
    if (
        url.startswith("rabbit")
        and importlib.util.find_spec("anker.messaging.transports.rabbit") is None
    ):
        raise Unavailable(
            "anker's rabbit:// transport is not installed here "
            f"(set {ANKER_URL_VARIABLE}=memory:// to measure anker without a broker)"
        )
    return url


def unique(what: str) -> str:
    """A name no earlier run used."""
    return f"{what}{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------- worker processes
class Worker(JsonLinesProcess):
    """A ``python -m bench.suites._msg_worker`` process: orders in on stdin, JSON lines out."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__("bench.suites._msg_worker", spec)
        self._early: list[dict[str, Any]] = []  # events read while waiting for another

    def expect(self, name: str, timeout: float = ORDER_TIMEOUT) -> dict[str, Any]:
        """The next event called ``name`` (others are kept for later), within ``timeout``."""
        for index, event in enumerate(self._early):
            if event["event"] == name:
                return self._early.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            event = self.next_object(deadline, repr(name))
            if "event" not in event:
                continue
            if event["event"] == "error":
                raise RuntimeError(f"{self}: {event.get('detail')}{self._tail()}")
            if event["event"] == name:
                return event
            self._early.append(event)

    def order(self, cmd: str, **facts: object) -> None:
        self.send(json.dumps({"cmd": cmd, **facts}))

    def ask(self, cmd: str, answer: str, **facts: object) -> dict[str, Any]:
        self.order(cmd, **facts)
        return self.expect(answer)

    def stop(self) -> list[str]:
        """Ask it to close its connections and exit (SIGKILL it if it does not); the queues
        it says it left on the broker."""
        left: list[str] = []
        with contextlib.suppress(OSError, ValueError):
            self.order("stop")
        with contextlib.suppress(Exception):
            left = list(self.expect("left", 20.0)["queues"])
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(20.0)
        self.kill()  # if it did not exit by itself; closes the pipes either way
        return left

    def __str__(self) -> str:
        return f"{self.spec.get('lib')} {'+'.join(self.spec['roles'])} (pid {self.process.pid})"


@contextlib.contextmanager
def workers(
    lib: str, kind: str, url: str, topic: str, leftovers: list[str]
) -> Iterator[tuple[Worker, Worker]]:
    """A side's server and client workers, ready; stopped at the end, come what may (the
    queues they left behind are added to ``leftovers``).

    On ``memory://`` both roles are one process (the in-process broker is per process).
    """
    base = {"lib": lib, "kind": kind, "url": url, "topic": topic}
    started: list[Worker] = []
    try:
        if url.startswith("memory"):
            both = Worker(base | {"roles": ["server", "client"]})
            started.append(both)
            both.expect("ready", READY_TIMEOUT)
            yield both, both
            return
        server = Worker(base | {"roles": ["server"]})
        started.append(server)
        server.expect("ready", READY_TIMEOUT)
        client = Worker(base | {"roles": ["client"]})
        started.append(client)
        client.expect("ready", READY_TIMEOUT)
        yield server, client
    finally:
        for worker in reversed(started):
            leftovers.extend(worker.stop())


def forget(broker: str, topic: str, leftovers: list[str]) -> None:
    """Delete every queue and exchange a run on ``topic`` may have left on the broker.

    anker and oslo.messaging name them alike: the queues ``topic``, ``topic.SERVER`` and
    ``topic.info`` (notifications), the exchange ``topic_fanout``; the raw floor uses
    ``topic`` and ``topic.info``. Fanout queues are auto-deleted, and so are the reply queues
    of anker and aio-pika; oslo.messaging's outlive their process, so its workers name them
    (``leftovers``).
    """

    async def delete() -> None:
        import aio_pika

        connection = await aio_pika.connect(amqp_url(broker), timeout=10.0)
        async with connection:
            for name in (topic, f"{topic}.{SERVER}", f"{topic}.info", *leftovers):
                with contextlib.suppress(Exception):
                    channel = await connection.channel()
                    await channel.queue_delete(name)
                    await channel.close()
            with contextlib.suppress(Exception):
                channel = await connection.channel()
                await channel.exchange_delete(f"{topic}_fanout")
                await channel.close()

    with contextlib.suppress(Exception):  # leftovers are harmless; a failed benchmark is not
        asyncio.run(delete())


# ---------------------------------------------------------------------- sides
#: what a benchmark does with a side's workers, per repetition
Workload = Callable[[Worker, Worker, int], float]


def side(lib: str, kind: str, workload: Workload) -> Side:
    """One library's side of a benchmark: its workers run ``workload`` on each repetition."""

    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        broker = rabbit_url()
        url = {"anker": anker_url(broker), "oslo": broker, "raw": amqp_url(broker)}[lib]
        topic = unique("bench")
        leftovers: list[str] = []
        try:
            with workers(lib, kind, url, topic, leftovers) as (server, client):
                yield lambda count: workload(server, client, count)
        finally:
            forget(broker, topic, leftovers)

    return Side(SIDE_NAMES[lib], opened, is_anker=lib == "anker", requires=REQUIRES[lib])


def calls(concurrency: int) -> Workload:
    """``count`` calls, ``concurrency`` of them in flight: calls/s, with latency percentiles."""

    def workload(server: Worker, client: Worker, count: int) -> float:
        done = client.ask("calls", "called", count=count, concurrency=concurrency)
        return Measured(
            count / done["elapsed"],
            {"p50 ms": done["p50"] * 1000, "p99 ms": done["p99"] * 1000},
        )

    return workload


def deliveries(cmd: str) -> Workload:
    """``count`` casts or notifications, ``WINDOW`` in flight, until the server has them all:
    messages/s from the first send to the last receipt (sending alone as an extra)."""

    def workload(server: Worker, client: Worker, count: int) -> float:
        server.ask("expect", "armed", count=count)
        sent = client.ask(cmd, "sent", count=count, window=WINDOW)
        received = server.expect("received")
        return Measured(
            count / (received["at"] - sent["began"]),
            {"sent/s": count / (sent["ended"] - sent["began"])},
        )

    return workload


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 of a list of latencies."""
    if len(latencies) < 2:
        return (latencies[0], latencies[0]) if latencies else (0.0, 0.0)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[98]
