"""The backend interface, as every driver must implement it (see anker.coordination._backend).

These tests talk to the driver directly; the primitives' suite (test_coordination_conformance)
goes through the coordinator.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from anker.coordination.backends import SERVER_EXPIRY, EntryExists, SessionExpired
from coordination_support import LEASE, OpenBackend

# Server-free drivers run in `make unit`; the others are marked `integration` by their fixture.


def ns() -> str:
    return f"t{uuid.uuid4().hex[:12]}/lock/x"


async def test_tokens_increase_in_creation_order_and_entries_come_back_in_that_order(
    open_backend: OpenBackend,
) -> None:
    backend = await open_backend()
    session = await backend.create_session()
    namespace = ns()
    tokens = [await backend.put(session, namespace, f"k{i}", f"v{i}".encode()) for i in range(5)]
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == 5
    entries = await backend.entries(namespace)
    assert [e.key for e in entries] == [f"k{i}" for i in range(5)]
    assert [e.token for e in entries] == tokens
    assert [e.value for e in entries] == [f"v{i}".encode() for i in range(5)]
    assert {e.session for e in entries} == {session}
    assert all(abs(e.created - time.time()) < 60 for e in entries)


async def test_put_and_read_returns_the_new_token_and_the_queue_including_it(
    open_backend: OpenBackend,
) -> None:
    backend = await open_backend()
    session = await backend.create_session()
    namespace = ns()
    first = await backend.put(session, namespace, "a", b"1")
    token, entries = await backend.put_and_read(session, namespace, "b", b"2")
    assert token > first
    assert [(e.key, e.token, e.value) for e in entries] == [("a", first, b"1"), ("b", token, b"2")]
    with pytest.raises(EntryExists):
        await backend.put_and_read(session, namespace, "b", b"3")
    await backend.end_session(session)
    with pytest.raises(SessionExpired):
        await backend.put_and_read(session, namespace, "c", b"")


async def test_values_are_bytes_and_come_back_unchanged(open_backend: OpenBackend) -> None:
    backend = await open_backend()
    session = await backend.create_session()
    namespace = ns()
    value = bytes(range(256)) + b'{"json": "\\u0000"}'
    await backend.put(session, namespace, "k", value)
    assert (await backend.entries(namespace))[0].value == value


async def test_tokens_keep_increasing_after_deletes_new_sessions_and_new_clients(
    open_backend: OpenBackend,
) -> None:
    namespace = ns()
    first = await open_backend()
    session = await first.create_session()
    token1 = await first.put(session, namespace, "a", b"")
    await first.delete(namespace, "a")
    assert await first.entries(namespace) == []
    await first.end_session(session)
    await first.aclose()
    second = await open_backend()  # a "restarted" client
    session2 = await second.create_session()
    token2 = await second.put(session2, namespace, "a", b"")
    assert token2 > token1


async def test_a_key_is_unique_within_a_namespace_only(open_backend: OpenBackend) -> None:
    backend = await open_backend()
    session = await backend.create_session()
    namespace, other = ns(), ns()
    await backend.put(session, namespace, "k", b"1")
    with pytest.raises(EntryExists):
        await backend.put(session, namespace, "k", b"2")
    await backend.put(session, other, "k", b"3")
    assert [e.value for e in await backend.entries(namespace)] == [b"1"]
    await backend.delete(namespace, "k")
    await backend.put(session, namespace, "k", b"4")  # free again once deleted
    assert [e.value for e in await backend.entries(namespace)] == [b"4"]


async def test_delete_is_idempotent(open_backend: OpenBackend) -> None:
    backend = await open_backend()
    namespace = ns()
    await backend.delete(namespace, "never-there")
    session = await backend.create_session()
    await backend.put(session, namespace, "k", b"")
    await backend.delete(namespace, "k")
    await backend.delete(namespace, "k")
    assert await backend.entries(namespace) == []


async def test_ending_a_session_deletes_its_entries_only(open_backend: OpenBackend) -> None:
    backend = await open_backend()
    one, two = await backend.create_session(), await backend.create_session()
    namespace = ns()
    await backend.put(one, namespace, "a", b"")
    await backend.put(two, namespace, "b", b"")
    await backend.put(one, namespace, "c", b"")
    await backend.end_session(one)
    assert [e.key for e in await backend.entries(namespace)] == ["b"]
    await backend.end_session(one)  # ending twice is fine
    with pytest.raises(SessionExpired):
        await backend.put(one, namespace, "d", b"")


async def test_a_session_not_renewed_expires_with_its_entries(open_backend: OpenBackend) -> None:
    backend = await open_backend()
    session = await backend.create_session()
    namespace = ns()
    await backend.put(session, namespace, "k", b"")
    deadline = time.monotonic() + LEASE * 3 + 3  # etcd's minimum lease is 2 s
    while await backend.entries(namespace):
        assert time.monotonic() < deadline, "the entry outlived its session's lease"
        await asyncio.sleep(0.1)
    with pytest.raises(SessionExpired):
        await backend.renew_session(session)
    with pytest.raises(SessionExpired):
        await backend.put(session, namespace, "k2", b"")
    assert await backend.entries(namespace) == []


async def test_renewal_keeps_a_session_alive_past_its_lease(open_backend: OpenBackend) -> None:
    backend = await open_backend()
    session = await backend.create_session()
    namespace = ns()
    await backend.put(session, namespace, "k", b"")
    end = time.monotonic() + LEASE * 3 + 1
    while time.monotonic() < end:
        await backend.renew_session(session)
        await asyncio.sleep(LEASE / 4)
    assert [e.key for e in await backend.entries(namespace)] == ["k"]


async def test_a_watch_wakes_on_a_put_and_a_delete_by_another_client(
    open_backend: OpenBackend,
) -> None:
    watcher, writer = await open_backend(), await open_backend()
    session = await writer.create_session()
    namespace = ns()
    async with watcher.watch(namespace) as watch:
        assert await watch.wait(0.2) is False  # nothing happened
        waiting = asyncio.create_task(watch.wait(10))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await writer.put(session, namespace, "k", b"")
        assert await waiting is True
        assert time.monotonic() - started < 2
        waiting = asyncio.create_task(watch.wait(10))
        await asyncio.sleep(0.05)
        await writer.delete(namespace, "k")
        assert await waiting is True


async def test_a_watch_remembers_a_change_made_before_wait_is_called(
    open_backend: OpenBackend,
) -> None:
    watcher, writer = await open_backend(), await open_backend()
    session = await writer.create_session()
    namespace = ns()
    async with watcher.watch(namespace) as watch:
        await writer.put(session, namespace, "k", b"")
        await asyncio.sleep(0.3)  # the change happens while nobody waits
        assert await watch.wait(5) is True


async def test_a_watch_ignores_other_namespaces(open_backend: OpenBackend) -> None:
    watcher, writer = await open_backend(), await open_backend()
    session = await writer.create_session()
    namespace = ns()
    async with watcher.watch(namespace) as watch:
        await writer.put(session, namespace + "-other", "k", b"")
        await writer.put(session, ns(), "k", b"")
        assert await watch.wait(0.5) is False


@pytest.mark.parametrize("kind", ["watch", "watch_removals"])
async def test_a_watch_that_says_what_was_removed_misses_no_removal(
    open_backend: OpenBackend, kind: str
) -> None:
    """Waiters go ahead on ``watch.removed`` without reading the queue, so a driver that
    describes its changes must list every removed entry (deleted, or ended with its session)
    and may leave out only new ones; one that cannot tell says None. A watch for removals
    only (what lock waiters open) must hear of every removal just the same."""
    watcher, writer = await open_backend(), await open_backend()
    session, other = await writer.create_session(), await writer.create_session()
    namespace = ns()
    await writer.put(session, namespace, "a", b"")
    await writer.put(other, namespace, "b", b"")
    async with getattr(watcher, kind)(namespace) as watch:
        removed: set[str] = set()
        described = True
        await writer.put(session, namespace, "c", b"")
        await writer.delete(namespace, "a")
        await writer.end_session(other)  # takes "b" with it
        deadline = time.monotonic() + 10
        while described and not {"a", "b"} <= removed and time.monotonic() < deadline:
            if await watch.wait(0.5):
                if watch.removed is None:
                    described = False
                else:
                    removed |= watch.removed
        assert not described or removed == {"a", "b"}


async def test_a_watch_ahead_wakes_once_nothing_is_ahead(open_backend: OpenBackend) -> None:
    """What an exclusive waiter opens: it must wake once nothing is ahead of its entry, and
    then say so (``ahead``), or that the entry ahead left (``removed``), or that it cannot
    tell (``removed`` None)."""
    watcher, writer = await open_backend(), await open_backend()
    theirs, mine = await writer.create_session(), await watcher.create_session()
    namespace = ns()
    await writer.put(theirs, namespace, "a", b"")
    await watcher.put(mine, namespace, "b", b"")
    async with watcher.watch_ahead(namespace, mine, "b") as watch:
        await writer.delete(namespace, "a")
        deadline = time.monotonic() + 10
        while True:
            assert time.monotonic() < deadline, "the waiter was not told the entry ahead left"
            if not await watch.wait(1):
                continue
            if watch.ahead is not None:
                assert watch.ahead == frozenset()
                break
            if watch.removed is None or "a" in watch.removed:
                break


async def test_watchers_learn_of_an_expiry_from_the_server_or_from_expires_in(
    open_backend: OpenBackend,
) -> None:
    """SERVER_EXPIRY backends wake watchers when a lease runs out; the others say, with each
    entry, when it will, and the entry is gone once that time has passed."""
    watcher, writer = await open_backend(), await open_backend()
    session = await writer.create_session()
    namespace = ns()
    await writer.put(session, namespace, "k", b"")
    (entry,) = await watcher.entries(namespace)
    async with watcher.watch(namespace) as watch:
        if SERVER_EXPIRY in watcher.capabilities:
            assert entry.expires_in is None
            assert await watch.wait(LEASE * 3 + 5) is True
        else:
            assert entry.expires_in is not None
            assert 0 < entry.expires_in <= LEASE + 0.5
            await asyncio.sleep(entry.expires_in + 0.05)
    assert await watcher.entries(namespace) == []


async def test_namespaces_lists_live_namespaces_by_prefix(open_backend: OpenBackend) -> None:
    backend = await open_backend()
    session = await backend.create_session()
    root = f"t{uuid.uuid4().hex[:12]}/"
    for name in ("lock/b", "lock/a", "group/g"):
        await backend.put(session, root + name, "k", b"")
    await backend.put(session, root + "lock/gone", "k", b"")
    await backend.delete(root + "lock/gone", "k")
    assert await backend.namespaces(root + "lock/") == [root + "lock/a", root + "lock/b"]
    assert await backend.namespaces(root) == [root + "group/g", root + "lock/a", root + "lock/b"]
    assert await backend.namespaces(f"t{uuid.uuid4().hex[:12]}/") == []
