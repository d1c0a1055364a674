"""A coordination client in its own process, for tests that SIGKILL or SIGSTOP it.

``python coordination_child.py URL PREFIX LEASE MODE``; it prints one JSON line per event.

* ``hold``: take lock ``l``, join group ``g``, lead election ``e``, print ``ready``, then wait
  to be killed.
* ``fenced``: take lock ``l``, print ``acquired`` with the token, then wait for a line on stdin
  (the test pauses the process in between); then write to PostgreSQL (URL in ANKER_FENCE_DSN)
  through a fence with its token, and print whether the write went through and whether the
  process noticed it had lost the lock.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from anker.coordination import Coordinator, LockLost, fencing


def say(event: str, **facts: object) -> None:
    print(json.dumps({"event": event, **facts}), flush=True)


async def hold(coordinator: Coordinator) -> None:
    lock = coordinator.lock("l")
    await lock.acquire()
    await coordinator.group("g").join({"pid": os.getpid()})
    election = coordinator.election("e")
    await election.campaign()
    await election.wait_elected()
    say("ready", token=lock.token)
    await asyncio.Event().wait()


async def fenced(coordinator: Coordinator) -> None:
    import psycopg

    lost: list[LockLost] = []
    lock = coordinator.lock("l", on_lost=lost.append)
    await lock.acquire()
    token = lock._token
    say("acquired", token=token)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    # Write at once, as a holder does that was paused in the middle of its work.
    async with await psycopg.AsyncConnection.connect(os.environ["ANKER_FENCE_DSN"]) as db:
        try:
            async with db.transaction():
                await fencing.claim_postgres(db, "resource", token or 0)
                await db.execute("INSERT INTO fenced_writes (writer) VALUES ('paused-holder')")
            written = True
        except fencing.StaleToken:
            written = False
    await asyncio.sleep(coordinator.lease)  # let the keeper report the loss too
    say("wrote" if written else "refused", lost=lock.lost, callback=len(lost))


async def main() -> None:
    url, prefix, lease, mode = sys.argv[1:5]
    coordinator = await Coordinator.connect(
        url, member_id=f"child-{os.getpid()}", lease=float(lease), prefix=prefix
    )
    await {"hold": hold, "fenced": fenced}[mode](coordinator)


if __name__ == "__main__":
    asyncio.run(main())
