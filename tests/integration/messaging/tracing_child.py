"""Run a call, a cast and a notification with OpenTelemetry set up (a process of its own: the
tracer provider is global), and print the finished spans as JSON lines."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from anker.messaging import (
    NotificationListener,
    Notifier,
    RequestContext,
    RPCClient,
    RPCServer,
    Target,
    connect,
)

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)


class Echo:
    def __init__(self) -> None:
        self.cast_done = asyncio.Event()

    async def echo(self, context: RequestContext, *, value: Any) -> Any:
        return value

    async def poke(self, context: RequestContext) -> None:
        self.cast_done.set()


class Sink:
    def __init__(self) -> None:
        self.done = asyncio.Event()

    async def info(
        self, context: Any, publisher_id: str, event_type: str, payload: Any, _: Any
    ) -> None:
        self.done.set()


async def forget_raw(url: str, name: str) -> None:
    """Delete the raw exchange and queue (RabbitMQ) or streams (NATS) named ``name``."""
    if url.startswith("rabbit"):
        import aiormq

        connection = await aiormq.connect(url.replace("rabbit://", "amqp://", 1))
        channel = await connection.channel()
        await channel.queue_delete(name)
        await channel.exchange_delete(name)
        await connection.close()
    elif url.startswith("nats"):
        import nats

        from anker.messaging.transports.nats import _names

        client = await nats.connect(url)
        for stream in (_names.raw_stream(name)[0], _names.dead_letter_stream(name)[0]):
            await client.jetstream().delete_stream(stream)
        await client.close()


async def main(url: str) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}"
    echo, sink = Echo(), Sink()
    async with (
        await connect(url) as transport,
        RPCServer(transport, Target(topic=topic), [echo]),
        NotificationListener(transport, [Target(topic=topic)], [sink]),
    ):
        tracer = trace.get_tracer("test")
        client = RPCClient(transport, Target(topic=topic), timeout=10)
        raw = transport.consume(f"{topic}-raw", f"{topic}-raw", ["orders.*"])
        await raw.start()
        with tracer.start_as_current_span("request"):
            assert await client.call(RequestContext(user_id="u1"), "echo", value=1) == 1
            await client.cast(None, "poke")
            await Notifier(transport, "svc", topics=[topic]).info(None, "thing.done", {})
            await transport.publish(f"{topic}-raw", "orders.new", b"{}")
        await asyncio.wait_for(echo.cast_done.wait(), 10)
        await asyncio.wait_for(sink.done.wait(), 10)
        message = await raw.get(timeout=10)
        with message.span():
            await message.ack()
        await raw.close()
        await asyncio.sleep(0.1)  # the handlers' spans end as they return
    await forget_raw(url, f"{topic}-raw")
    for span in exporter.get_finished_spans():
        parent = span.parent
        print(
            json.dumps(
                {
                    "name": span.name,
                    "kind": span.kind.name,
                    "trace": format(span.context.trace_id, "032x"),
                    "id": format(span.context.span_id, "016x"),
                    "parent": format(parent.span_id, "016x") if parent else None,
                }
            )
        )


asyncio.run(main(sys.argv[1]))
