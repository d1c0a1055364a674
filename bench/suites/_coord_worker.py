"""One coordination client in a process of its own, for the contended and failover benchmarks.

``python -m bench.suites._coord_worker SPEC``, SPEC a JSON object; the worker prints one JSON
line per event (``{"event": ...}``) and times everything on ``time.monotonic()``, which is one
clock for every process of the machine, so the parent can subtract its own readings.

Roles (``spec["role"]``), each for ``spec["lib"]`` = ``anker`` or ``tooz`` (and ``baton``, the
hand-over floor on Redis, for ``contend``):

* ``contend``: open the lock ``spec["lock"]``, print ``ready``, read ``START END`` from stdin,
  then from START until END acquire, hold ``spec["hold"]`` seconds, release, again; print
  ``done`` with the acquisitions completed before END and the longest and total wait.
* ``victim``: join group ``spec["group"]``, become leader of it, print ``ready``, wait to be
  SIGKILLed.
* ``observer``: join the group, watch it, stand for election behind the victim, print
  ``ready``; then print ``left`` when the victim leaves the group and ``elected`` when this
  member becomes leader, each with the time, and exit once both happened (or at
  ``spec["deadline"]``).

tooz has no push: its observer calls ``run_watchers()`` every ``spec["poll"]`` seconds (with its
heartbeat thread running), which is how tooz is meant to be used.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

#: how much longer than the contention window one acquisition may wait before giving up
GRACE = 30.0


def say(event: str, **facts: object) -> None:
    print(json.dumps({"event": event, **facts}), flush=True)


def window() -> tuple[float, float]:
    start, end = (float(word) for word in sys.stdin.readline().split())
    return start, end


class Tally:
    def __init__(self) -> None:
        self.count = 0
        self.late = 0
        self.timeouts = 0
        self.worst_wait = 0.0
        self.total_wait = 0.0

    def acquired(self, asked: float, end: float) -> None:
        now = time.monotonic()
        wait = now - asked
        self.worst_wait = max(self.worst_wait, wait)
        self.total_wait += wait
        if now <= end:
            self.count += 1
        else:
            self.late += 1

    def report(self) -> None:
        say(
            "done",
            count=self.count,
            late=self.late,
            timeouts=self.timeouts,
            worst_wait=self.worst_wait,
            total_wait=self.total_wait,
        )


# ---------------------------------------------------------------------- anker
async def anker_main(spec: dict[str, Any]) -> None:
    from anker.coordination import Coordinator

    async with await Coordinator.connect(
        spec["url"], member_id=spec["member"], prefix=spec["prefix"], timeout=5.0
    ) as coordinator:
        role = spec["role"]
        if role == "contend":
            await anker_contend(coordinator, spec)
        elif role == "victim":
            await anker_victim(coordinator, spec)
        elif role == "observer":
            await anker_observer(coordinator, spec)


async def anker_contend(coordinator: Any, spec: dict[str, Any]) -> None:
    lock = coordinator.lock(spec["lock"])
    say("ready")
    start, end = await asyncio.get_running_loop().run_in_executor(None, window)
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    tally = Tally()
    while (asked := time.monotonic()) < end:
        if not await lock.acquire(timeout=end - asked + GRACE):
            tally.timeouts += 1
            continue
        tally.acquired(asked, end)
        await asyncio.sleep(spec["hold"])
        await lock.release()
    tally.report()


async def anker_victim(coordinator: Any, spec: dict[str, Any]) -> None:
    await coordinator.group(spec["group"]).join({"role": "victim"})
    election = coordinator.election(spec["group"])
    await election.campaign()
    if not await election.wait_elected(timeout=30.0):
        raise SystemExit("the victim was not elected within 30 s")
    say("ready")
    await asyncio.Event().wait()


async def anker_observer(coordinator: Any, spec: dict[str, Any]) -> None:
    victim = spec["victim"]
    left, elected = asyncio.Event(), asyncio.Event()

    def on_leave(member: Any) -> None:
        if member.id == victim and not left.is_set():
            say("left", at=time.monotonic())
            left.set()

    def on_elected() -> None:
        if not elected.is_set():
            say("elected", at=time.monotonic())
            elected.set()

    group = coordinator.group(spec["group"])
    await group.join({"role": "observer"})
    watch = group.watch(on_leave=on_leave)
    await asyncio.wait_for(watch.started.wait(), 30.0)
    election = coordinator.election(spec["group"])
    await election.campaign(on_elected=on_elected)
    await asyncio.sleep(0.3)  # the candidacy is one put: queued behind the victim by now
    members = sorted(member.id for member in await group.members())
    say("ready", members=members, leader=await election.leader())
    await asyncio.wait_for(asyncio.gather(left.wait(), elected.wait()), spec["deadline"])


# ---------------------------------------------------------------------- tooz
def tooz_main(spec: dict[str, Any]) -> None:
    from bench.suites._coord import tooz_coordinator

    with tooz_coordinator(spec["url"], spec["member"]) as coordinator:
        role = spec["role"]
        if role == "contend":
            tooz_contend(coordinator, spec)
        elif role == "victim":
            tooz_victim(coordinator, spec)
        elif role == "observer":
            tooz_observer(coordinator, spec)


def tooz_contend(coordinator: Any, spec: dict[str, Any]) -> None:
    lock = coordinator.get_lock(spec["lock"].encode())
    say("ready")
    start, end = window()
    time.sleep(max(0.0, start - time.monotonic()))
    tally = Tally()
    while (asked := time.monotonic()) < end:
        if not lock.acquire(blocking=end - asked + GRACE):
            tally.timeouts += 1
            continue
        tally.acquired(asked, end)
        time.sleep(spec["hold"])
        lock.release()
    tally.report()


def _create_group(coordinator: Any, group: bytes) -> None:
    from bench.suites._coord import import_tooz

    try:
        coordinator.create_group(group).get(timeout=30.0)
    except import_tooz().GroupAlreadyExist:
        pass


def tooz_victim(coordinator: Any, spec: dict[str, Any]) -> None:
    group = spec["group"].encode()
    _create_group(coordinator, group)
    coordinator.join_group(group, capabilities=b"victim").get(timeout=30.0)
    if spec["leadership"]:
        elected: list[object] = []
        coordinator.watch_elected_as_leader(group, elected.append)
        deadline = time.monotonic() + 30.0
        while not elected:
            if time.monotonic() > deadline:
                raise SystemExit("the victim was not elected within 30 s")
            coordinator.run_watchers(timeout=10.0)
            time.sleep(spec["poll"])
    say("ready")
    while True:  # the heartbeat thread keeps membership and leadership; wait for SIGKILL
        time.sleep(3600)


def tooz_observer(coordinator: Any, spec: dict[str, Any]) -> None:
    group = spec["group"].encode()
    victim = spec["victim"].encode()
    seen: dict[str, float] = {}

    def on_leave(event: Any) -> None:
        if event.member_id == victim and "left" not in seen:
            seen["left"] = time.monotonic()
            say("left", at=seen["left"])

    def on_elected(event: Any) -> None:
        if "elected" not in seen:
            seen["elected"] = time.monotonic()
            say("elected", at=seen["elected"])

    coordinator.join_group(group, capabilities=b"observer").get(timeout=30.0)
    coordinator.watch_leave_group(group, on_leave)
    wanted = {"left"}
    if spec["leadership"]:
        coordinator.watch_elected_as_leader(group, on_elected)
        wanted.add("elected")
    coordinator.run_watchers(timeout=10.0)
    members = sorted(m.decode() for m in coordinator.get_members(group).get(timeout=30.0))
    if seen:
        raise SystemExit(f"the observer saw {sorted(seen)} before the victim was killed")
    say("ready", members=members)
    deadline = time.monotonic() + spec["deadline"]
    while not wanted <= seen.keys() and time.monotonic() < deadline:
        time.sleep(spec["poll"])
        coordinator.run_watchers(timeout=10.0)


# ---------------------------------------------------------------------- the hand-over floor
def baton_contend(spec: dict[str, Any]) -> None:
    """The floor of a first-come-first-served hand-over on Redis: a baton passed round the
    workers in turn (RPUSH to the next worker's list, BLPOP on one's own), with redis-py.

    Each hand-over is one round trip of the holder and one wake-up of the next worker, with
    no queue to keep and no lease; no fair lock can hand over faster on the same server.
    """
    import redis

    client = redis.Redis.from_url(spec["url"], socket_timeout=GRACE)
    index, workers = spec["index"], spec["workers"]
    mine, following = f"{spec['lock']}:{index}", f"{spec['lock']}:{(index + 1) % workers}"
    client.delete(mine)
    say("ready")
    start, end = window()
    time.sleep(max(0.0, start - time.monotonic()))
    if index == 0:
        client.rpush(mine, b"baton")
    tally = Tally()
    while (asked := time.monotonic()) < end:
        if client.blpop([mine], timeout=max(0.01, end - asked)) is None:
            continue  # the window closed while the baton was elsewhere
        tally.acquired(asked, end)
        time.sleep(spec["hold"])
        client.rpush(following, b"baton")
    client.delete(mine)
    tally.report()


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec["lib"] == "anker":
        asyncio.run(anker_main(spec))
    elif spec["lib"] == "baton":
        baton_contend(spec)
    else:
        tooz_main(spec)


if __name__ == "__main__":
    main()
