"""The ``timeout`` of every acquire-like call, read as :mod:`threading` reads it: -1 waits for
ever, other negative numbers are refused, and so is anything that is not a number."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from anker.coordination import BlockingCoordinator, Coordinator

KINDS: dict[str, Callable[[Coordinator], Any]] = {
    "lock": lambda c: c.lock("x"),
    "semaphore": lambda c: c.semaphore("x", 1),
    "rwlock": lambda c: c.rwlock("x").write,
}


@pytest.mark.parametrize("kind", KINDS)
async def test_minus_one_waits_for_ever_as_in_threading(tmp_path: Path, kind: str) -> None:
    url = f"file://{tmp_path}"
    async with (
        await Coordinator.connect(url, member_id="a") as a,
        await Coordinator.connect(url, member_id="b") as b,
    ):
        holder = KINDS[kind](a)
        assert await holder.acquire()
        waiter = asyncio.create_task(KINDS[kind](b).acquire(timeout=-1))
        # "try once" would have answered False by now (a file:// round trip takes a few ms)
        await asyncio.wait({waiter}, timeout=0.5)
        assert not waiter.done()
        await holder.release()
        assert await asyncio.wait_for(waiter, 10) is True


async def test_an_election_wait_of_minus_one_waits_for_ever(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    async with (
        await Coordinator.connect(url, member_id="a") as a,
        await Coordinator.connect(url, member_id="b") as b,
    ):
        first, second = a.election("e"), b.election("e")
        await first.campaign()
        assert await first.wait_elected(10)
        await second.campaign()
        # a timeout of -1 s would run out at once, long before the leader resigns
        waiting = asyncio.create_task(second.wait_elected(-1))
        await first.resign()
        assert await asyncio.wait_for(waiting, 10) is True
        await second.resign()


@pytest.mark.parametrize(
    ("timeout", "error", "says"),
    [
        (-2, ValueError, "timeout must be 0 or more seconds, or -1 or None to wait for ever"),
        (-0.5, ValueError, "not -0.5"),
        (float("nan"), ValueError, "not nan"),
        (True, TypeError, "timeout must be a number of seconds, -1 or None .*not bool True"),
        ("5", TypeError, "not str '5'"),
        ([5], TypeError, "not list"),
    ],
)
async def test_a_timeout_that_is_no_time_is_refused_naming_it(
    tmp_path: Path, timeout: object, error: type[Exception], says: str
) -> None:
    async with await Coordinator.connect(f"file://{tmp_path}", member_id="a") as a:
        for make in KINDS.values():
            with pytest.raises(error, match=says):
                await make(a).acquire(timeout=timeout)
        with pytest.raises(error, match=says):
            await a.election("e").wait_elected(timeout)  # type: ignore[arg-type]
        for construct in (
            lambda: a.lock("x", timeout=timeout),  # type: ignore[arg-type]
            lambda: a.semaphore("x", 2, timeout=timeout),  # type: ignore[arg-type]
            lambda: a.rwlock("x", timeout=timeout),  # type: ignore[arg-type]
        ):
            with pytest.raises(error, match=says):
                construct()
        assert await a.locks() == []  # nothing was queued


def test_the_blocking_wrappers_read_timeouts_alike(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    with (
        BlockingCoordinator.connect(url, member_id="a") as a,
        BlockingCoordinator.connect(url, member_id="b") as b,
    ):
        with pytest.raises(ValueError, match="timeout must be 0 or more seconds"):
            b.lock("x").acquire(timeout=-3)
        with pytest.raises(TypeError, match="not bool"):
            b.lock("x", timeout=False)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout must be 0 or more seconds"):
            b.election("e").wait_elected(-3)
        holder = a.lock("x")
        assert holder.acquire()
        assert b.lock("x").acquire(timeout=0) is False
        with a.lock("y", timeout=-1) as forever:  # -1 on the lock itself: wait for ever
            assert forever.held
        holder.release()
        assert b.lock("x").acquire(timeout=-1) is True
