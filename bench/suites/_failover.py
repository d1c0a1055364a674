"""How long a SIGKILLed member stays in its group and keeps leading it, as another member sees.

One sample: a *victim* process joins a fresh group and becomes its leader; an *observer*
process joins the group too, watches it and stands for election behind the victim. The
parent SIGKILLs the victim and takes the time until the observer (a) sees the victim leave the
group and (b) becomes leader, both read on the machine's one monotonic clock. The figure is
(a), in seconds; (b) is the extra ``new leader s``.

anker runs with its default lease (2 s: a dead member is gone 2 s after its last renewal at
most, renewals every 0.67 s). tooz runs with its defaults (30 s membership and lock timeouts
on Redis and etcd, kazoo's 10 s session on ZooKeeper), polled with ``run_watchers()`` every
``POLL`` s, and again with its timeouts set to anker's 2 s; the defaults side is left out of
--smoke runs (each of its samples takes up to half a minute). tooz has leadership on Redis and
ZooKeeper only.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from bench._harness import Benchmark, Measure, Measured, Side
from bench.suites._coord import (
    READY_TIMEOUT,
    TOOZ_REDIS_NAMESPACE,
    children,
    forget_anker_zookeeper,
    forget_tooz_group,
    forget_tooz_redis_keys,
    server_url,
    tooz_url,
    unique,
)

#: tooz's observer runs its watchers this often (tight, so tooz's figure is its timeouts')
POLL = 0.05
#: how long after the kill the observer may take to see both (tooz's defaults: 30 s timeouts)
DEADLINE = 75.0
#: tooz's timeouts set to anker's default lease, by driver
TOOZ_TUNED = {
    "redis": {"membership_timeout": 2, "lock_timeout": 2},
    "etcd": {"membership_timeout": 2, "lock_timeout": 2},
    "zookeeper": {"timeout": 2},
}
TOOZ_LEADERSHIP = {"redis": True, "etcd": False, "zookeeper": True}
REQUIRES = {
    "redis": ("redis",),
    "postgresql": ("psycopg",),
    "etcd": ("httpx",),
    "zookeeper": ("kazoo",),
}
TOOZ_REQUIRES = {"redis": ("redis",), "etcd": ("etcd3gw",), "zookeeper": ("kazoo",)}


def failover_side(
    server: str, lib: str, tooz_options: dict[str, object] | None = None
) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        url = server_url(server)

        def measure(count: int) -> float:
            samples = [sample(server, url, lib, tooz_options or {}) for _ in range(count)]
            extras = {}
            if all("elected" in s for s in samples):
                extras["new leader s"] = statistics.median(s["elected"] for s in samples)
            return Measured(statistics.median(s["left"] for s in samples), extras)

        yield measure

    return opened


def sample(server: str, url: str, lib: str, tooz_options: dict[str, object]) -> dict[str, float]:
    group = unique("g")
    prefix = unique("b")
    namespace = unique(TOOZ_REDIS_NAMESPACE)
    leadership = lib == "anker" or TOOZ_LEADERSHIP[server]
    if lib == "anker":
        base = {"lib": "anker", "url": url, "prefix": prefix}
    else:
        options = tooz_options | ({"namespace": namespace} if server == "redis" else {})
        base = {
            "lib": "tooz",
            "url": tooz_url(server, url, **options),
            "poll": POLL,
            "leadership": leadership,
        }
    victim_id = f"victim-{group}"
    try:
        with children() as start:
            victim = start(base | {"role": "victim", "member": victim_id, "group": group})
            victim.expect("ready", time.monotonic() + READY_TIMEOUT)
            observer = start(
                base
                | {
                    "role": "observer",
                    "member": f"observer-{group}",
                    "group": group,
                    "victim": victim_id,
                    "deadline": DEADLINE,
                }
            )
            ready = observer.expect("ready", time.monotonic() + READY_TIMEOUT)
            if victim_id not in ready["members"]:
                raise RuntimeError(f"the observer does not see the victim: {ready}")
            killed = time.monotonic()
            victim.kill()
            wanted = {"left", "elected"} if leadership else {"left"}
            seen: dict[str, float] = {}
            while not wanted <= seen.keys():
                event = observer.event(killed + DEADLINE + 5.0)
                if event.get("event") in wanted:
                    seen[event["event"]] = event["at"] - killed
            return seen
    finally:
        if lib == "tooz" and server == "redis":
            forget_tooz_redis_keys(url, namespace)
        elif lib == "tooz":
            forget_tooz_group(server, url, group)
        elif server == "zookeeper":
            forget_anker_zookeeper(url, prefix)


def failover_benchmark(server: str) -> Benchmark:
    sides = [
        Side(
            "anker (lease 2 s)",
            failover_side(server, "anker"),
            is_anker=True,
            requires=("anker", *REQUIRES[server]),
        )
    ]
    if server in TOOZ_TUNED:
        requires = ("tooz", *TOOZ_REQUIRES[server])
        sides += [
            Side(
                "tooz (timeouts 2 s)",
                failover_side(server, "tooz", TOOZ_TUNED[server]),
                requires=requires,
            ),
            Side("tooz (defaults)", failover_side(server, "tooz"), requires=requires, smoke=False),
        ]
    return Benchmark(
        name=f"coord-failover-{server.removesuffix('ql')}",
        description=f"SIGKILLed member: seconds until another member sees it leave ({server})",
        unit="s",
        higher_is_better=False,
        sides=tuple(sides),
        count=1,  # kills per rep (the figure is their median)
        smoke_count=1,
        reps=5,
    )
