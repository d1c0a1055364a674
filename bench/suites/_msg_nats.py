"""What the NATS messaging benchmarks share: anker over NATS, raw nats-py request/reply (the
floor) and anker over RabbitMQ, each with its server and client in processes of their own
(the workers of ``_msg``).

The NATS server is the integration tests': ``ANKER_TEST_NATS_URL`` (default
``nats://127.0.0.1:4222``). Every run uses a fresh topic; the JetStream consumers anker's RPC
server made for casts on it are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

from bench._harness import Measure, Side, Unavailable
from bench.suites._msg import SERVER, Workload, forget, rabbit_url, unique, workers

NATS_VARIABLE = "ANKER_TEST_NATS_URL"
NATS_DEFAULT = "nats://127.0.0.1:4222"

#: side -> (worker lib, broker, name)
SIDES = {
    "anker-nats": ("anker", "nats", "anker over NATS (async)"),
    "raw-nats": ("raw-nats", "nats", "raw nats-py request/reply (floor)"),
    "thin-rpc-nats": ("thin-rpc-nats", "nats", "thinnest RPC layer over nats-py"),
    "anker-rabbit": ("anker", "rabbit", "anker over RabbitMQ (async)"),
}
REQUIRES = {
    "anker-nats": ("anker", "nats"),
    "raw-nats": ("nats",),
    "thin-rpc-nats": ("nats",),
    "anker-rabbit": ("anker", "aio_pika"),
}


def nats_url() -> str:
    """The NATS server's URL, after checking it answers."""
    url = os.environ.get(NATS_VARIABLE, "").strip() or NATS_DEFAULT
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 4222
    try:
        with socket.create_connection((host, port), timeout=2.0):
            pass
    except OSError as exc:
        raise Unavailable(f"NATS is not reachable at {host}:{port}: {exc}") from exc
    return url


def forget_nats(url: str, topic: str) -> None:
    """Delete the cast consumers anker's RPC server made for ``topic``."""

    async def delete() -> None:
        import nats

        from anker.messaging.transports.nats import _names

        client = await nats.connect(url, connect_timeout=5)
        try:
            js = client.jetstream()
            stream, _ = _names.cast_stream("openstack")
            for server in (None, SERVER):
                with contextlib.suppress(Exception):
                    await js.delete_consumer(stream, _names.queue_consumer(topic, server))
        finally:
            await client.close()

    with contextlib.suppress(Exception):  # leftovers are harmless; a failed benchmark is not
        asyncio.run(delete())


def side(name: str, workload: Workload) -> Side:
    """One side of a NATS benchmark: its workers run ``workload`` on each repetition."""
    lib, broker, shown = SIDES[name]

    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        url = nats_url() if broker == "nats" else rabbit_url()
        topic = unique("bench")
        leftovers: list[str] = []
        try:
            with workers(lib, "rpc", url, topic, leftovers) as (server, client):
                yield lambda count: workload(server, client, count)
        finally:
            if broker == "nats":
                forget_nats(url, topic)
            else:
                forget(url, topic, leftovers)

    return Side(shown, opened, is_anker=name == "anker-nats", requires=REQUIRES[name])
