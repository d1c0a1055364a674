"""Every primitive, through the coordinator, on every backend and its real server."""

from __future__ import annotations

import asyncio
import time

import pytest

from anker.coordination import (
    CoordinationError,
    GroupEvent,
    LockLost,
    LockTimeout,
    MemberExists,
    Partitioner,
)
from coordination_support import LEASE, OpenCoordinator

# Server-free drivers run in `make unit`; the others are marked `integration` by their fixture.

#: a bound for anything that should happen within a lease (etcd's minimum lease is 2 s)
WITHIN_LEASE = 3 * LEASE + 3


async def end_session_behind_its_back(coordinator: OpenCoordinator, victim: object) -> None:
    """What an operator or a partition does: the victim's session ends without it knowing."""
    other = await coordinator()
    session = victim._keeper.session  # type: ignore[attr-defined]
    await other._backend.end_session(session)


# ---------------------------------------------------------------------- locks
async def test_a_lock_excludes_across_coordinators(coordinator: OpenCoordinator) -> None:
    coordinators = [await coordinator(f"m{i}") for i in range(3)]
    inside, most, tokens = 0, 0, []

    async def worker(index: int) -> None:
        nonlocal inside, most
        for _ in range(4):
            async with coordinators[index % 3].lock("shared") as lock:
                inside += 1
                most = max(most, inside)
                tokens.append(lock.token)
                await asyncio.sleep(0.005)
                inside -= 1

    await asyncio.gather(*(worker(i) for i in range(6)))
    assert most == 1
    assert len(tokens) == 24
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == 24


async def test_lock_objects_taken_in_a_loop_under_contention_stay_exclusive_and_in_order(
    coordinator: OpenCoordinator,
) -> None:
    """A lock object that had to wait opens its watch before its next put (and drivers keep
    closed watches open a while): the queue must stay exclusive, ordered and complete."""
    coordinators = [await coordinator(f"r{i}") for i in range(3)]
    locks = [c.lock("loop") for c in coordinators]
    inside, most, tokens = 0, 0, []

    async def worker(index: int) -> None:
        nonlocal inside, most
        for _ in range(6):
            assert await locks[index].acquire(timeout=WITHIN_LEASE * 4)
            inside += 1
            most = max(most, inside)
            tokens.append(locks[index].token)
            await asyncio.sleep(0.005)
            inside -= 1
            await locks[index].release()

    await asyncio.gather(*(worker(i) for i in range(3)))
    assert most == 1
    assert len(tokens) == 18
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == 18
    # a lock object that waited last time, timing out or trying once, leaves no entry behind
    holder, waiter = coordinators[0].lock("again"), coordinators[1].lock("again")
    assert await holder.acquire()
    assert not await waiter.acquire(timeout=0.2)
    assert waiter._contended
    assert not await waiter.acquire(blocking=False)
    assert not await waiter.acquire(timeout=0.1)
    waiting = asyncio.create_task(waiter.acquire(timeout=WITHIN_LEASE))
    await asyncio.sleep(0.2)
    await holder.release()
    assert await waiting
    assert waiter.token > 0
    await waiter.release()
    assert await holder.acquire(blocking=False)  # nothing was left in the queue
    await holder.release()


async def test_try_once_and_timeout_mean_the_same_on_every_backend(
    coordinator: OpenCoordinator,
) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    held = a.lock("x")
    assert await held.acquire(blocking=False)
    started = time.monotonic()
    assert await b.lock("x").acquire(blocking=False) is False
    started = time.monotonic()
    assert await b.lock("x").acquire(timeout=0.5) is False
    waited = time.monotonic() - started
    assert 0.5 <= waited < 0.5 + 2
    with pytest.raises(LockTimeout, match=r"'x' was not acquired within 0\.3 s"):
        async with b.lock("x", timeout=0.3):
            pass
    await held.release()
    assert await b.lock("x").acquire(blocking=False)
    # a timed-out waiter leaves no entry behind: only b's holding is listed
    assert [(info.member, info.held) for info in await a.locks()] == [("b", True)]


async def test_waiters_are_served_first_come_first_served(coordinator: OpenCoordinator) -> None:
    holder = await coordinator("holder")
    waiters = [await coordinator(f"w{i}") for i in range(5)]
    first = holder.lock("fifo")
    await first.acquire()
    order: list[int] = []

    async def wait(index: int) -> None:
        async with waiters[index].lock("fifo"):
            order.append(index)
            await asyncio.sleep(0.01)

    tasks = []
    for index in (3, 0, 4, 1, 2):  # arrival order differs from creation order
        tasks.append(asyncio.create_task(wait(index)))
        queued = len(tasks) + 1
        await _until(lambda queued=queued: _queued(holder, "fifo", queued))
    await first.release()
    await asyncio.gather(*tasks)
    assert order == [3, 0, 4, 1, 2]


async def _queued(coordinator: object, name: str, length: int) -> bool:
    infos = await coordinator.locks()  # type: ignore[attr-defined]
    return sum(1 for info in infos if info.name == name) >= length


async def _until(predicate: object, timeout: float = WITHIN_LEASE) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_a_release_wakes_the_next_waiter_without_polling(
    coordinator: OpenCoordinator,
) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    lock = a.lock("wake")
    await lock.acquire()
    waiter = asyncio.create_task(b.lock("wake").acquire())
    await _until(lambda: _queued(a, "wake", 2))
    released = time.monotonic()
    await lock.release()
    assert await waiter
    # woken by the backend's notification: far sooner than the lease-long safety re-read
    assert time.monotonic() - released < LEASE / 2


async def test_a_lost_lock_is_an_event_and_its_token_is_stale(
    coordinator: OpenCoordinator,
) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    reported: list[LockLost] = []
    lock = a.lock("fragile", on_lost=reported.append)
    await lock.acquire()
    old_token = lock.token
    await end_session_behind_its_back(coordinator, a)
    lost = await asyncio.wait_for(lock.wait_lost(), WITHIN_LEASE)
    assert lost.token == old_token
    assert lost.lock_name == "fragile"
    assert reported == [lost]
    assert lock.lost
    assert not lock.held
    with pytest.raises(LockLost):
        _ = lock.token
    other = b.lock("fragile")
    assert await other.acquire(timeout=WITHIN_LEASE)
    assert other.token > old_token
    await other.release()
    # the coordinator carries on with a new session
    await lock.release()  # forgets the lost holding
    assert await lock.acquire(timeout=WITHIN_LEASE)
    assert lock.token > other._token  # type: ignore[operator]


async def test_closing_a_coordinator_releases_at_once(coordinator: OpenCoordinator) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    await a.lock("x").acquire()
    await a.group("g").join()
    waiter = asyncio.create_task(b.lock("x").acquire())
    await _until(lambda: _queued(b, "x", 2))
    closed = time.monotonic()
    await a.aclose()
    assert await waiter
    assert time.monotonic() - closed < LEASE / 2  # not left to expire
    assert await b.group("g").members() == []


async def test_a_lock_object_is_not_reentrant(coordinator: OpenCoordinator) -> None:
    a = await coordinator("a")
    lock = a.lock("x")
    await lock.acquire()
    with pytest.raises(CoordinationError, match="already held"):
        await lock.acquire(blocking=False)
    await lock.release()
    with pytest.raises(CoordinationError, match="not held"):
        await lock.release()


# ---------------------------------------------------------------------- semaphores, rw locks
async def test_a_semaphore_admits_at_most_its_limit(coordinator: OpenCoordinator) -> None:
    coordinators = [await coordinator(f"m{i}") for i in range(3)]
    inside, most = 0, 0

    async def worker(index: int) -> None:
        nonlocal inside, most
        for _ in range(3):
            async with coordinators[index % 3].semaphore("pool", 2):
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.02)
                inside -= 1

    await asyncio.gather(*(worker(i) for i in range(6)))
    assert most == 2


async def test_every_user_of_a_semaphore_must_agree_on_its_limit(
    coordinator: OpenCoordinator,
) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    async with a.semaphore("pool", 2):
        with pytest.raises(CoordinationError, match="limit 2 by member 'a'"):
            await b.semaphore("pool", 3).acquire(blocking=False)


async def test_readers_share_and_writers_exclude_in_arrival_order(
    coordinator: OpenCoordinator,
) -> None:
    a, b, c = await coordinator("a"), await coordinator("b"), await coordinator("c")
    read_a, read_b = a.rwlock("doc").read, b.rwlock("doc").read
    assert await read_a.acquire(blocking=False)
    assert await read_b.acquire(blocking=False)  # readers share
    write = c.rwlock("doc").write
    assert await write.acquire(blocking=False) is False
    writer = asyncio.create_task(write.acquire())
    await _until(lambda: _queued(a, "doc", 3))
    late_reader = asyncio.create_task(a.rwlock("doc").read.acquire())  # behind the writer
    await _until(lambda: _queued(a, "doc", 4))
    await read_a.release()
    await asyncio.sleep(0.1)
    assert not writer.done()  # read_b is still ahead
    await read_b.release()
    assert await asyncio.wait_for(writer, WITHIN_LEASE)
    await asyncio.sleep(0.1)
    assert not late_reader.done()
    await write.release()
    assert await asyncio.wait_for(late_reader, WITHIN_LEASE)


# ---------------------------------------------------------------------- groups
async def test_members_join_with_capabilities_and_leave(coordinator: OpenCoordinator) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    await a.group("workers").join({"zone": "z1", "weight": 2})
    await b.group("workers").join()
    members = await a.group("workers").members()
    assert [(m.id, dict(m.capabilities)) for m in members] == [
        ("a", {"weight": 2, "zone": "z1"}),
        ("b", {}),
    ]
    await a.group("workers").join({"zone": "z2"})  # joining again updates capabilities
    assert {m.id: m.capabilities for m in await b.group("workers").members()}["a"] == {"zone": "z2"}
    await b.group("workers").leave()
    await b.group("workers").leave()  # leaving twice is fine
    assert [m.id for m in await a.group("workers").members()] == ["a"]
    assert list(await a.groups()) == ["workers"]


async def test_a_member_id_is_unique_among_live_sessions(coordinator: OpenCoordinator) -> None:
    first, impostor = await coordinator("same"), await coordinator("same")
    await first.group("g").join()
    with pytest.raises(MemberExists, match="'same' is already in group 'g'"):
        await impostor.group("g").join()


async def test_watchers_see_joins_and_leaves_including_a_dead_member(
    coordinator: OpenCoordinator,
) -> None:
    watcher, a, b = await coordinator("w"), await coordinator("a"), await coordinator("b")
    events: list[tuple[str, str]] = []
    changed = asyncio.Event()

    def record(kind: str) -> object:
        def callback(member: object) -> None:
            events.append((kind, member.id))  # type: ignore[attr-defined]
            changed.set()

        return callback

    watch = watcher.group("g").watch(on_join=record("join"), on_leave=record("leave"))  # type: ignore[arg-type]
    await asyncio.wait_for(watch.started.wait(), WITHIN_LEASE)
    await a.group("g").join()
    await b.group("g").join()
    await _until_events(events, changed, 2)
    await a.group("g").leave()
    await _until_events(events, changed, 3)
    await end_session_behind_its_back(coordinator, b)  # b dies
    await _until_events(events, changed, 4)
    assert events[:2] == [("join", "a"), ("join", "b")] or sorted(events[:2]) == [
        ("join", "a"),
        ("join", "b"),
    ]
    assert events[2] == ("leave", "a")
    assert ("leave", "b") in events[3:]
    await watch.stop()


async def _until_events(events: list[object], changed: asyncio.Event, count: int) -> None:
    deadline = time.monotonic() + WITHIN_LEASE
    while len(events) < count:
        changed.clear()
        left = deadline - time.monotonic()
        assert left > 0, f"only {events} seen"
        await asyncio.wait_for(changed.wait(), left)


async def test_a_member_whose_session_was_lost_joins_again(coordinator: OpenCoordinator) -> None:
    a, observer = await coordinator("a"), await coordinator("o")
    await a.group("g").join({"v": 1})
    await end_session_behind_its_back(coordinator, a)

    async def back() -> bool:
        members = await observer.group("g").members()
        return [m.id for m in members] == ["a"] and members[0].capabilities == {"v": 1}

    await asyncio.sleep(0.1)
    await _until(back)


async def test_group_events_iterate_changes(coordinator: OpenCoordinator) -> None:
    watcher, a = await coordinator("w"), await coordinator("a")
    seen: list[GroupEvent] = []

    async def follow() -> None:
        async for event in watcher.group("g").events():
            seen.append(event)
            if len(seen) == 2:
                return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.2)
    await a.group("g").join()
    await _until(lambda: _true_when(lambda: len(seen) == 1))
    await a.group("g").leave()
    await asyncio.wait_for(task, WITHIN_LEASE)
    assert [(e.kind, e.member.id) for e in seen] == [("join", "a"), ("leave", "a")]


# ---------------------------------------------------------------------- elections
async def test_the_first_candidate_leads_and_a_resignation_hands_over(
    coordinator: OpenCoordinator,
) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    calls: list[str] = []
    first, second = a.election("sched"), b.election("sched")
    await first.campaign(on_elected=lambda: calls.append("a elected"))
    assert await first.wait_elected(WITHIN_LEASE)
    await second.campaign(
        on_elected=lambda: calls.append("b elected"),
        on_lost=lambda error: calls.append(f"b lost {error}"),
    )
    assert not await second.wait_elected(0.3)
    assert first.is_leader
    assert not second.is_leader
    assert await b.election("sched").leader() == "a"
    assert await b.leaders() == {"sched": "a"}
    token = first.token
    await first.resign()
    assert await second.wait_elected(WITHIN_LEASE)
    assert second.token > token
    assert await a.election("sched").leader() == "b"
    assert calls == ["a elected", "b elected"]
    await second.resign()
    assert calls[-1] == "b lost None"
    assert await a.election("sched").leader() is None


async def test_a_leader_that_loses_its_lease_is_told_and_replaced(
    coordinator: OpenCoordinator,
) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    lost: list[object] = []
    first, second = a.election("e"), b.election("e")
    await first.campaign(on_lost=lost.append)
    assert await first.wait_elected(WITHIN_LEASE)
    await second.campaign()
    await end_session_behind_its_back(coordinator, a)
    assert await second.wait_elected(WITHIN_LEASE)
    await _until(lambda: _true_when(lambda: bool(lost)))
    assert isinstance(lost[0], LockLost)
    # the old leader campaigns again, now behind b
    await asyncio.sleep(0.2)
    assert await a.election("e").leader() == "b"


async def _true_when(check: object) -> bool:
    return bool(check())  # type: ignore[operator]


# ---------------------------------------------------------------------- partitioner
async def test_partitioners_agree_and_rebalance_on_membership_changes(
    coordinator: OpenCoordinator,
) -> None:
    keys = {f"shard-{i}" for i in range(600)}
    a, b, c = await coordinator("a"), await coordinator("b"), await coordinator("c")
    moves: dict[str, list[tuple[set[str], set[str]]]] = {"a": [], "b": [], "c": []}
    parts: dict[str, Partitioner] = {}
    for member, weight in (("a", 1), ("b", 2)):
        coord = a if member == "a" else b
        parts[member] = coord.partitioner("workers", weight=weight)
        await parts[member].start(
            keys, on_rebalance=lambda g, lost, m=member: moves[m].append((g, lost))
        )

    async def settled(members: set[str]) -> bool:
        for part in parts.values():
            await part.refresh()
        return all(set(part.weights) == members for part in parts.values())

    await _until(lambda: settled({"a", "b"}))
    mine_a, mine_b = parts["a"].mine, parts["b"].mine
    assert mine_a | mine_b == keys
    assert not mine_a & mine_b
    assert 1.5 < len(mine_b) / len(mine_a) < 2.6  # weight 2 against 1
    assert all(parts["a"].owner(k) == parts["b"].owner(k) for k in keys)

    parts["c"] = c.partitioner("workers")
    await parts["c"].start(keys)
    await _until(lambda: settled({"a", "b", "c"}))
    after = {m: p.mine for m, p in parts.items()}
    assert set().union(*after.values()) == keys
    assert sum(len(v) for v in after.values()) == len(keys)
    # only keys that went to the newcomer moved
    assert after["a"] <= mine_a
    assert after["b"] <= mine_b
    gained_a = set().union(*(g for g, _ in moves["a"][1:])) if moves["a"][1:] else set()
    assert not gained_a
    await parts["c"].stop()
    await _until(lambda: settled({"a", "b"}))
    assert parts["a"].mine == mine_a
    assert parts["b"].mine == mine_b


# ---------------------------------------------------------------------- introspection
async def test_locks_lists_holders_and_waiters(coordinator: OpenCoordinator) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    lock = a.lock("x")
    await lock.acquire()
    async with a.semaphore("s", 3):
        waiter = asyncio.create_task(b.lock("x").acquire())
        await _until(lambda: _queued(a, "x", 2))
        infos = await b.locks()
        rows = [(i.kind, i.name, i.member, i.held) for i in infos]
        assert rows == [
            ("lock", "x", "a", True),
            ("lock", "x", "b", False),
            ("semaphore", "s", "a", True),
        ]
        assert infos[0].token == lock.token
        assert abs(infos[0].since - time.time()) < 60
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

    # a cancelled waiter leaves no entry behind (deleted in the background: a cancelled
    # caller does not wait for the backend)
    async def only_the_holder() -> bool:
        return [(i.name, i.member) for i in await b.locks()] == [("x", "a")]

    await _until(only_the_holder)


# ---------------------------------------------------------------------- found in review
async def test_tasks_sharing_a_read_write_lock_each_hold_their_own_side(
    coordinator: OpenCoordinator,
) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    rw = a.rwlock("doc")
    both_in = asyncio.Barrier(2)

    async def reader() -> None:
        async with rw.read:
            await both_in.wait()

    await asyncio.wait_for(asyncio.gather(reader(), reader()), WITHIN_LEASE)
    assert await b.locks() == []  # nothing left behind
    assert await b.rwlock("doc").write.acquire(blocking=False)


async def test_one_lock_object_cannot_be_acquired_by_two_tasks(
    coordinator: OpenCoordinator,
) -> None:
    a = await coordinator("a")
    lock = a.lock("x")
    first = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)  # first is now under way
    with pytest.raises(CoordinationError, match="give each task its own lock object"):
        await lock.acquire()
    assert await first
    await lock.release()


async def test_a_long_leader_job_is_cancelled_and_told_at_once_when_leadership_ends(
    coordinator: OpenCoordinator,
) -> None:
    a, b = await coordinator("a"), await coordinator("b")
    job_running, job_cancelled = asyncio.Event(), asyncio.Event()
    told: list[object] = []

    async def leader_job() -> None:
        job_running.set()
        try:
            await asyncio.Event().wait()  # a periodic job's loop
        except asyncio.CancelledError:
            job_cancelled.set()
            raise

    first = a.election("e")
    await first.campaign(on_elected=leader_job, on_lost=told.append)
    await asyncio.wait_for(job_running.wait(), WITHIN_LEASE)
    second = b.election("e")
    await second.campaign()
    await end_session_behind_its_back(coordinator, a)
    await asyncio.wait_for(job_cancelled.wait(), WITHIN_LEASE)
    assert isinstance(told[0], LockLost)
    assert not first.is_leader
    assert await second.wait_elected(WITHIN_LEASE)
    await first.resign()
    await second.resign()


async def test_leaving_through_another_group_object_is_final(
    coordinator: OpenCoordinator,
) -> None:
    a, observer = await coordinator("a"), await coordinator("o")
    await a.group("g").join({"zone": "z1"})
    await a.group("g").leave()  # a different Group object
    a._keeper._lose("test: the client gives up on its session")
    await asyncio.sleep(WITHIN_LEASE / 3)
    assert await observer.group("g").members() == []


async def test_a_member_that_gave_up_on_its_session_first_is_back_on_a_new_one(
    coordinator: OpenCoordinator,
) -> None:
    """The client declares its session lost while the server still holds it (a partition
    that heals quickly): the old session must not keep the new one out of its groups."""
    a, observer = await coordinator("a"), await coordinator("o")
    group = a.group("g")
    await group.join({"v": 1})
    old = a._keeper.session
    a._keeper._lose("test: the client gives up on its session")

    async def back_on_a_new_session() -> bool:
        members = await observer.group("g").members()
        return bool(members) and members[0].id == "a" and a._keeper.session != old

    await _until(back_on_a_new_session)
    assert group.joined
