"""A limits client in its own process, for the tests that race processes or SIGKILL one.

``python limits_child.py URL PROJECT CLAIMS LEASE``: opens the store, prints ``ready``, waits
for a line on stdin (so every process starts claiming at once), then makes ``CLAIMS``
concurrent claims of one core each and prints one JSON line with the ids it got and how many
were refused. With ``CLAIMS`` negative it makes one claim, prints ``claimed`` with its id and
waits to be killed, never committing.
"""

from __future__ import annotations

import asyncio
import json
import sys

from anker.limits import OverQuota, Quota


def say(event: str, **facts: object) -> None:
    print(json.dumps({"event": event, **facts}), flush=True)


async def main(url: str, project: str, claims: int, lease: float) -> None:
    quota = await Quota.open(url, lease=lease, timeout=30)
    say("ready")
    await asyncio.to_thread(sys.stdin.readline)
    if claims < 0:
        claim = await quota.claim(project, {"cores": 1})
        say("claimed", id=claim.id)
        await asyncio.Event().wait()

    async def one() -> str | None:
        try:
            return (await quota.claim(project, {"cores": 1})).id
        except OverQuota:
            return None

    results = await asyncio.gather(*(one() for _ in range(claims)))
    granted = [found for found in results if found is not None]
    say("done", granted=granted, refused=len(results) - len(granted))
    await quota.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
