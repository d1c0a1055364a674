"""What signing messages costs: sequential calls per second with and without a ``Signing``,
side by side on the same transport, five rounds each, medians and their ratio.

    .venv-bench/bin/python bench/msg_signing_overhead.py [URL ...]

Default URLs: ``memory://`` (no network: the worst case, signing's cost laid bare) and the
RabbitMQ of ``scripts/services``. A call is signed twice (request and reply) and checked twice.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid

from anker.messaging import RPCClient, RPCServer, Signing, Target, connect

CALLS = 1000
ROUNDS = 5
ARGUMENT = {"id": 42, "name": "text " * 10, "flags": [1, 2, 3]}


class Echo:
    async def echo(self, context: object, value: object) -> object:
        return value


async def calls_per_second(url: str, signing: Signing | None) -> float:
    topic = f"sign-bench-{uuid.uuid4().hex[:8]}"
    async with (
        await connect(url, signing=signing) as transport,
        RPCServer(transport, Target(topic=topic), [Echo()]),
    ):
        client = RPCClient(transport, Target(topic=topic), timeout=30)
        for _ in range(50):  # warm up
            await client.call(None, "echo", value=ARGUMENT)
        began = time.perf_counter()
        for _ in range(CALLS):
            await client.call(None, "echo", value=ARGUMENT)
        return CALLS / (time.perf_counter() - began)


async def main(urls: list[str]) -> None:
    for url in urls:
        plain, signed = [], []
        for _ in range(ROUNDS):  # alternated, so that load on the machine hits both alike
            plain.append(await calls_per_second(url, None))
            signed.append(await calls_per_second(url, Signing({"k": os.urandom(32)})))
        p, s = statistics.median(plain), statistics.median(signed)
        print(f"{url.split('://')[0]:>8}: unsigned {p:7.0f} calls/s, signed {s:7.0f}, {s / p:.2f}x")


if __name__ == "__main__":
    given = sys.argv[1:] or ["memory://sign-bench", "rabbit://guest:guest@127.0.0.1:5672/"]
    asyncio.run(main(given))
