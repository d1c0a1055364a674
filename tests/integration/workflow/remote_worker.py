"""A task worker process for the remote-task tests: ``python remote_worker.py URL TOPIC``.

Serves task ``slow`` (prints ``STARTED <key> <pid>``, sleeps 2 s, returns its pid) until
killed; prints ``READY <pid>`` once it consumes.
"""

from __future__ import annotations

import asyncio
import os
import sys

from anker.messaging import RPCServer, Target, connect
from anker.workflow import Task, TaskContext, TaskWorker


async def slow(ctx: TaskContext, seconds: float) -> int:
    print(f"STARTED {ctx.key} {os.getpid()}", flush=True)
    await asyncio.sleep(seconds)
    return os.getpid()


async def main(url: str, topic: str) -> None:
    async with (
        await connect(url) as transport,
        RPCServer(
            transport,
            Target(topic=topic, server=str(os.getpid())),
            [TaskWorker([Task("slow", slow)])],
        ),
    ):
        print(f"READY {os.getpid()}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
