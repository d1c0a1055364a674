"""What the health restart tests share: polling an endpoint until its status changes."""

from __future__ import annotations

import asyncio
import time

import httpx

__all__ = ["FAIL_WITHIN", "status_within"]

#: how soon /readyz must follow a dependency going down or coming back (the issue's bound;
#: the tests run the refresher every 0.25 s, so this leaves room for a loaded machine)
FAIL_WITHIN = 2.0


async def status_within(client: httpx.AsyncClient, wanted: int, timeout: float) -> float:
    """Poll ``/readyz`` until it answers ``wanted``; the seconds that took (AssertionError
    after ``timeout``)."""
    started = time.monotonic()
    while True:
        answer = await client.get("/readyz")
        elapsed = time.monotonic() - started
        if answer.status_code == wanted:
            return elapsed
        assert elapsed < timeout, f"/readyz still {answer.status_code} after {timeout} s"
        await asyncio.sleep(0.02)
