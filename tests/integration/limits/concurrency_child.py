"""Holds one slot of a concurrency limit in its own process until killed.

``python concurrency_child.py COORDINATION_URL SCOPE KEY LIMIT``: prints ``held`` once it holds
a slot, then waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys

from anker.coordination import Coordinator
from anker.limits import ConcurrencyLimit


async def main(url: str, scope: str, key: str, limit: int) -> None:
    coordinator = await Coordinator.connect(url, lease=1.0)
    async with ConcurrencyLimit(coordinator, scope, limit=limit).slot(key, wait=False):
        print("held", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
