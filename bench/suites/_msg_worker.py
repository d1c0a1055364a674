"""One side's server or client in a process of its own, for the messaging benchmarks.

``python -m bench.suites._msg_worker SPEC``, SPEC a JSON object: ``lib`` (``anker``,
``oslo``, ``raw`` (aio-pika) or ``raw-nats`` (nats-py)), ``kind`` (``rpc`` or ``notify``),
``url``, ``topic`` and ``roles`` (``server``, ``client`` or both). The worker connects, starts
its server, prints ``{"event": "ready"}``, then follows orders, one JSON object per line on
stdin, answering with JSON lines on stdout:

* ``calls`` (count, concurrency): that many calls of ``echo(x=1)``, ``concurrency`` in flight;
  answers ``called`` with the elapsed time and the p50 and p99 latency, in seconds.
* ``casts`` / ``notify`` (count, window): that many casts of ``record(x=1)`` or ``info``
  notifications with payload ``{"x": 1}``, ``window`` in flight; answers ``sent`` with the
  ``time.monotonic()`` of the first send and of the last confirm.
* ``expect`` (count): the server counts deliveries from zero; answers ``armed``, then
  ``received`` with the ``time.monotonic()`` when the count-th arrived.
* ``rss``: the process's resident set size in bytes.
* ``stop``: close everything, say ``left`` with the queues left on the broker (oslo's reply
  queue outlives its process), and exit.

In-flight work is bounded the same way for every library: ``concurrency``/``window`` asyncio
tasks (anker, aio-pika) or threads (oslo.messaging, whose client blocks), each sending the
next message as soon as its previous one returned.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bench.suites._msg import SERVER, percentiles

PAYLOAD = {"x": 1}
_print_lock = threading.Lock()


def say(event: str, **facts: object) -> None:
    line = json.dumps({"event": event, **facts})
    with _print_lock:
        print(line, flush=True)


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Counter:
    """Deliveries received, from any thread; says ``received`` when the expected one came."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.expected = -1

    def arm(self, expected: int) -> None:
        with self._lock:
            self.count = 0
            self.expected = expected
        say("armed")

    def hit(self) -> None:
        with self._lock:
            self.count += 1
            if self.count != self.expected:
                return
        say("received", at=time.monotonic(), count=self.count)


def check(result: Any) -> None:
    if result != PAYLOAD:
        raise RuntimeError(f"echo returned {result!r}")


# ---------------------------------------------------------------------- async sides
async def async_calls(call: Callable[[], Awaitable[Any]], count: int, concurrency: int) -> None:
    latencies: list[float] = []
    remaining = count

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            began = time.perf_counter()
            check(await call())
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    p50, p99 = percentiles(latencies)
    say("called", elapsed=elapsed, p50=p50, p99=p99)


async def async_sends(send: Callable[[], Awaitable[Any]], count: int, window: int) -> None:
    remaining = count

    async def sender() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send()

    began = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(window)))
    say("sent", began=began, ended=time.monotonic())


async def async_orders(client: dict[str, Callable[[], Awaitable[Any]]], counter: Counter) -> None:
    """Follow the parent's orders until ``stop`` (or the end of stdin)."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        order = json.loads(line)
        cmd = order["cmd"]
        if cmd == "stop":
            return
        if cmd == "expect":
            counter.arm(order["count"])
        elif cmd == "rss":
            say("rss", rss=rss())
        elif cmd == "calls":
            await async_calls(client["call"], order["count"], order["concurrency"])
        elif cmd in ("casts", "notify"):
            await async_sends(client[cmd], order["count"], order["window"])
        else:
            raise ValueError(f"unknown order {cmd!r}")


async def anker_main(spec: dict[str, Any]) -> None:
    from anker.messaging import (
        NotificationListener,
        Notifier,
        RequestContext,
        RPCClient,
        RPCServer,
        Target,
        connect,
    )

    counter = Counter()

    class Endpoint:
        async def echo(self, context: RequestContext, x: int) -> dict[str, int]:
            return {"x": x}

        async def record(self, context: RequestContext, x: int) -> None:
            counter.hit()

    class Sink:
        async def info(
            self,
            context: RequestContext,
            publisher_id: str,
            event_type: str,
            payload: Any,
            metadata: dict[str, Any],
        ) -> None:
            counter.hit()

    url, topic, roles = spec["url"], spec["topic"], spec["roles"]
    transports = []
    server: Any = None
    client: dict[str, Callable[[], Awaitable[Any]]] = {}
    try:
        if "server" in roles:
            transports.append(server_transport := await connect(url))
            if spec["kind"] == "rpc":
                target = Target(topic=topic, server=SERVER)
                server = RPCServer(server_transport, target, [Endpoint()])
            else:
                server = NotificationListener(server_transport, [Target(topic=topic)], [Sink()])
            await server.start()
        if "client" in roles:
            transports.append(client_transport := await connect(url))
            rpc = RPCClient(client_transport, Target(topic=topic), timeout=60)
            notifier = Notifier(client_transport, "bench.h1", topics=[topic])
            client = {
                "call": lambda: rpc.call(None, "echo", x=1),
                "casts": lambda: rpc.cast(None, "record", x=1),
                "notify": lambda: notifier.info(None, "bench.event", PAYLOAD),
            }
        say("ready")
        await async_orders(client, counter)
    finally:
        if server is not None:
            await server.stop()
        for transport in transports:
            await transport.aclose()


async def raw_main(spec: dict[str, Any]) -> None:
    """The floor: the least a correct RPC (and cast, and notification) needs on aio-pika."""
    import aio_pika
    import orjson

    counter = Counter()
    url, topic, roles = spec["url"], spec["topic"], spec["roles"]
    queue_name = topic if spec["kind"] == "rpc" else f"{topic}.info"
    loop = asyncio.get_running_loop()
    connections = []
    client: dict[str, Callable[[], Awaitable[Any]]] = {}
    try:
        if "server" in roles:
            connections.append(connection := await aio_pika.connect(url))
            # replies go out without confirms; requests are acked once answered
            server_channel = await connection.channel(publisher_confirms=False)
            await server_channel.set_qos(prefetch_count=128)
            requests = await server_channel.declare_queue(queue_name, auto_delete=False)
            reply_exchange = server_channel.default_exchange

            async def on_request(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                args = orjson.loads(message.body)
                if message.reply_to:
                    await reply_exchange.publish(
                        aio_pika.Message(
                            orjson.dumps({"x": args["x"]}), correlation_id=message.correlation_id
                        ),
                        routing_key=message.reply_to,
                        mandatory=False,
                    )
                else:
                    counter.hit()
                await message.ack()

            await requests.consume(on_request)
        if "client" in roles:
            connections.append(connection := await aio_pika.connect(url))
            channel = await connection.channel(publisher_confirms=True)
            exchange = channel.default_exchange
            replies = await channel.declare_queue("", exclusive=True, auto_delete=True)
            pending: dict[str, asyncio.Future[Any]] = {}

            async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                future = pending.pop(message.correlation_id or "", None)
                if future is not None and not future.done():
                    future.set_result(orjson.loads(message.body))

            await replies.consume(on_reply, no_ack=True)
            body = orjson.dumps(PAYLOAD)

            async def call() -> Any:
                correlation_id = uuid.uuid4().hex
                future = pending[correlation_id] = loop.create_future()
                await exchange.publish(
                    aio_pika.Message(body, correlation_id=correlation_id, reply_to=replies.name),
                    routing_key=queue_name,
                )
                return await future

            async def send() -> None:
                await exchange.publish(aio_pika.Message(body), routing_key=queue_name)

            client = {"call": call, "casts": send, "notify": send}
        say("ready")
        await async_orders(client, counter)
    finally:
        for connection in connections:
            await connection.close()


async def raw_nats_main(spec: dict[str, Any]) -> None:
    """The NATS floor: nats-py request/reply, JSON in and out, nothing else (no envelope,
    context, TTL or heartbeats). The server answers in a queue group, as anker's do.

    ``thin-rpc-nats``: the same with the least any RPC layer adds (``thin_rpc_*``)."""
    import nats
    import orjson

    url, topic, roles = spec["url"], spec["topic"], spec["roles"]
    thin = spec["lib"] == "thin-rpc-nats"
    subject = f"bench.{topic}"
    connections = []
    client: dict[str, Callable[[], Awaitable[Any]]] = {}
    try:
        if "server" in roles:
            connections.append(server_nc := await nats.connect(url))

            async def on_request(msg: Any) -> None:
                args = orjson.loads(msg.data)
                await msg.respond(orjson.dumps({"x": args["x"]}))

            handler = thin_rpc_server() if thin else on_request
            await server_nc.subscribe(subject, queue="bench", cb=handler)
            await server_nc.flush()
        if "client" in roles:
            connections.append(client_nc := await nats.connect(url))
            body = orjson.dumps(PAYLOAD)

            async def call() -> Any:
                reply = await client_nc.request(subject, body, timeout=60)
                return orjson.loads(reply.data)

            client = {"call": thin_rpc_call(client_nc, subject, topic) if thin else call}
        say("ready")
        await async_orders(client, Counter())
    finally:
        for connection in connections:
            await connection.close()


def thin_rpc_server(*, task_per_request: bool = True) -> Callable[[Any], Awaitable[None]]:
    """The server side of the thinnest RPC layer: a request envelope (method, args, context)
    read as JSON, the method found by name and awaited, a reply envelope (result or failure)
    written as JSON; each request in a task of its own, as a server must run them so that a
    slow method does not hold up the others (nats-py runs a subscription's callbacks one at
    a time), unless ``task_per_request`` is false (to measure what the task costs)."""
    import orjson

    async def echo(context: dict[str, Any], x: int) -> dict[str, int]:
        return {"x": x}

    methods = {"echo": echo}
    running: set[asyncio.Task[None]] = set()

    async def answer(msg: Any) -> None:
        request = orjson.loads(msg.data)
        try:
            result = await methods[request["method"]](request["context"], **request["args"])
            reply = orjson.dumps({"result": result, "failure": None})
        except Exception as exc:
            reply = orjson.dumps({"result": None, "failure": repr(exc)})
        await msg.respond(reply)

    async def on_request(msg: Any) -> None:
        task = asyncio.get_running_loop().create_task(answer(msg))
        running.add(task)
        task.add_done_callback(running.discard)

    return on_request if task_per_request else answer


def thin_rpc_call(nc: Any, subject: str, topic: str) -> Callable[[], Awaitable[Any]]:
    """The client side of the thinnest RPC layer: the request envelope (method, args, a
    context, version, message id) and the reply's result or failure, as JSON."""
    import itertools

    import orjson

    ids = itertools.count()
    context = {"user": None, "project": None, "request_id": f"req-{topic}"}

    async def call() -> Any:
        request = {
            "method": "echo",
            "args": PAYLOAD,
            "context": context,
            "version": "1.0",
            "msg_id": f"{topic}{next(ids)}",
        }
        reply = await nc.request(subject, orjson.dumps(request), timeout=60)
        answer = orjson.loads(reply.data)
        if answer["failure"] is not None:
            raise RuntimeError(answer["failure"])
        return answer["result"]

    return call


# ---------------------------------------------------------------------- oslo.messaging
def threaded(work: Callable[[], Any], count: int, threads: int) -> list[float]:
    """``count`` runs of ``work`` from ``threads`` threads; the latency of each."""
    lock = threading.Lock()
    remaining = count
    latencies: list[float] = []
    failures: list[BaseException] = []

    def worker() -> None:
        nonlocal remaining
        try:
            while True:
                with lock:
                    if remaining <= 0:
                        return
                    remaining -= 1
                began = time.perf_counter()
                work()
                latencies.append(time.perf_counter() - began)
        except BaseException as exc:
            failures.append(exc)

    started = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    if failures:
        raise failures[0]
    return latencies


def oslo_main(spec: dict[str, Any]) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eventlet's deprecation, through oslo.service
        import oslo_messaging  # type: ignore[import-untyped]
        from oslo_config import cfg

    counter = Counter()

    class Endpoint:
        def echo(self, ctxt: dict[str, Any], x: int) -> dict[str, int]:
            return {"x": x}

        def record(self, ctxt: dict[str, Any], x: int) -> None:
            counter.hit()

    class Sink:
        def info(
            self,
            ctxt: dict[str, Any],
            publisher_id: str,
            event_type: str,
            payload: Any,
            metadata: Any,
        ) -> None:
            counter.hit()

    url, topic, roles = spec["url"], spec["topic"], spec["roles"]
    conf = cfg.CONF  # as services use it (oslo.messaging's tracing options live only there)
    conf([], project="anker-bench")
    if spec["kind"] == "rpc":
        transport = oslo_messaging.get_rpc_transport(conf, url=url)
    else:
        transport = oslo_messaging.get_notification_transport(conf, url=url)
    server: Any = None
    work: dict[str, Callable[[], Any]] = {}
    try:
        if "server" in roles:
            if spec["kind"] == "rpc":
                server = oslo_messaging.get_rpc_server(
                    transport,
                    oslo_messaging.Target(topic=topic, server=SERVER),
                    [Endpoint()],
                    executor="threading",
                )
            else:
                server = oslo_messaging.get_notification_listener(
                    transport, [oslo_messaging.Target(topic=topic)], [Sink()], executor="threading"
                )
            server.start()
        if "client" in roles:
            rpc = oslo_messaging.get_rpc_client(
                transport, oslo_messaging.Target(topic=topic), timeout=60
            )
            notifier = oslo_messaging.Notifier(
                transport, publisher_id="bench.h1", driver="messagingv2", topics=[topic]
            )
            work = {
                "call": lambda: check(rpc.call({}, "echo", x=1)),
                "casts": lambda: rpc.cast({}, "record", x=1),
                "notify": lambda: notifier.info({}, "bench.event", PAYLOAD),
            }
        say("ready")
        oslo_orders(work, counter)
    finally:
        if server is not None:
            server.stop()
            server.wait()
        # the reply queue outlives the process (30 minutes): the parent deletes it
        reply_queue = getattr(getattr(transport, "_driver", None), "_reply_q", None)
        transport.cleanup()
        say("left", queues=[reply_queue] if reply_queue else [])


#: threads sending casts or notifications through oslo.messaging (see oslo_orders)
OSLO_THREADS = 16


def oslo_orders(work: dict[str, Callable[[], Any]], counter: Counter) -> None:
    """Follow the parent's orders until ``stop`` (or the end of stdin)."""
    for line in sys.stdin:
        order = json.loads(line)
        cmd = order["cmd"]
        if cmd == "stop":
            return
        if cmd == "expect":
            counter.arm(order["count"])
        elif cmd == "rss":
            say("rss", rss=rss())
        elif cmd == "calls":
            began = time.perf_counter()
            latencies = threaded(work["call"], order["count"], order["concurrency"])
            elapsed = time.perf_counter() - began
            p50, p99 = percentiles(latencies)
            say("called", elapsed=elapsed, p50=p50, p99=p99)
        elif cmd in ("casts", "notify"):
            # a blocking client has one message in flight per thread
            began = time.monotonic()
            threaded(work[cmd], order["count"], min(order["window"], OSLO_THREADS))
            say("sent", began=began, ended=time.monotonic())
        else:
            raise ValueError(f"unknown order {cmd!r}")


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        if spec["lib"] == "oslo":
            oslo_main(spec)
        else:
            mains = {
                "anker": anker_main,
                "raw": raw_main,
                "raw-nats": raw_nats_main,
                "thin-rpc-nats": raw_nats_main,
            }
            asyncio.run(mains[spec["lib"]](spec))
            say("left", queues=[])  # their reply queues go with their connections
    except Exception as exc:
        traceback.print_exc()
        say("error", detail=f"{type(exc).__name__}: {exc}")
        sys.stdout.flush()
        os._exit(1)


if __name__ == "__main__":
    main()
