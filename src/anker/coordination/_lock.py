"""Locks, semaphores and read/write locks: first-come-first-served queues of leased entries.

Acquiring appends an entry to the namespace of the lock; the backend gives it a token larger
than every token before it. An entry is granted when the entries ahead of it allow it: none
for a lock or a writer, fewer than ``limit`` for a semaphore, no writer for a reader. A waiter
re-reads the queue only when its watch says the queue changed (or when the lease of an entry
ahead of it runs out, on backends that do not announce expiries), so waiters never poll, and
they are served in the order they arrived.

The token of a lock's holder is its **fencing token**: every later holder's is larger, so a
store that remembers the largest token it has seen can refuse a write from a holder whose lease
ran out while it was paused (see :mod:`anker.coordination.fencing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Self

from anker._observe import report
from anker.coordination._backend import SERVER_EXPIRY, Entry, SessionExpired, Watch
from anker.coordination._errors import CoordinationError, LockLost, LockTimeout
from anker.coordination._waits import wait_limit

if TYPE_CHECKING:
    from anker.coordination._blocking import BlockingLock
    from anker.coordination._coordinator import Coordinator

__all__ = ["Lock", "LockInfo", "ReadWriteLock", "Semaphore"]

log = logging.getLogger("anker.coordination")

Mode = Literal["exclusive", "shared"]
#: how much later than an entry's lease a waiter looks again (clock skew, server housekeeping)
EXPIRY_MARGIN = 0.02

LostCallback = Callable[[LockLost], object]


@dataclass(frozen=True, slots=True)
class LockInfo:
    """One entry of a lock's queue, as :meth:`Coordinator.locks` lists it."""

    kind: str  # "lock", "semaphore" or "rwlock"
    name: str
    member: str
    token: int
    held: bool
    mode: Mode
    since: float  # seconds since the epoch
    expires_in: float | None


def decode(entry: Entry) -> dict[str, Any]:
    try:
        value = json.loads(entry.value)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def new_key() -> str:
    """A fresh entry key: 128 random bits (cheaper than uuid4, as unique)."""
    return os.urandom(16).hex()


def granted(entries: list[Entry], index: int, limit: int, mode: Mode) -> bool:
    """Whether the entry at ``index`` may hold, given the entries ahead of it."""
    ahead = entries[:index]
    if mode == "shared":
        return all(decode(entry).get("mode") == "shared" for entry in ahead)
    return len(ahead) < limit


class _QueuedLock:
    """What Lock, Semaphore and the two sides of ReadWriteLock share."""

    kind = "lock"
    #: what "not held" adds, for a lock object that was never acquired
    _not_held_hint = ""

    def __init__(
        self,
        coordinator: Coordinator,
        name: str,
        *,
        limit: int = 1,
        mode: Mode = "exclusive",
        timeout: float | None = None,
        on_lost: LostCallback | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.name = name
        self.limit = limit
        self.mode = mode
        self.timeout = wait_limit(timeout)
        self.on_lost = on_lost
        self.namespace = coordinator._namespace(self.kind, name)
        self._key: str | None = None
        self._session: str | None = None
        self._token: int | None = None
        self._lost: LockLost | None = None
        self._lost_event = asyncio.Event()
        self._busy = False
        #: the value of our entries (the same for every acquisition)
        self._value: bytes | None = None
        #: whether the last acquisition had to wait (then the next opens its watch first)
        self._contended = False
        #: when the current holding began (time.monotonic), for the hold time it reports
        self._held_since = 0.0

    def __repr__(self) -> str:
        state = "held" if self.held else "lost" if self._lost else "not held"
        return f"<{type(self).__qualname__} {self.name!r} {state} token={self._token}>"

    # ------------------------------------------------------------------ state
    @property
    def held(self) -> bool:
        """Whether this object holds the lock and its lease is known to be alive."""
        return (
            self._session is not None
            and self._lost is None
            and self.coordinator._keeper.alive(self._session)
        )

    @property
    def token(self) -> int:
        """The fencing token of the current holding; raises LockLost if the lease ran out."""
        self.check()
        assert self._token is not None
        return self._token

    @property
    def lost(self) -> bool:
        """Whether the last holding was lost (its lease ran out before it was released)."""
        return self._expired() is not None or self._lost is not None

    def check(self) -> None:
        """Raise :class:`LockLost` unless the lock is held with a live lease.

        Call it right before acting on the lock; then pass :attr:`token` to the store, which
        is the only check that also holds against pauses *after* this one. Safe to call from
        any thread.
        """
        expired = self._expired()
        if expired is not None:
            raise expired
        if self._lost is not None:
            raise self._lost
        if self._session is None:
            raise CoordinationError(f"{self.kind} {self.name!r} is not held{self._not_held_hint}")

    async def wait_lost(self) -> LockLost:
        """Wait until the current holding is lost; return the LockLost that says why."""
        await self._lost_event.wait()
        assert self._lost is not None
        return self._lost

    def _expired(self) -> LockLost | None:
        """The loss the clock alone shows, before the keeper's task has had a chance to run
        (a paused process, a busy loop); the loss is then reported on the coordinator's loop.
        """
        session = self._session
        if session is None or self._lost is not None or self.coordinator._keeper.alive(session):
            return None
        reason = "the lease ran out before it was renewed"
        self.coordinator._call_soon(self._mark_lost, session, reason)
        return LockLost(self.name, self._token, reason)

    def _mark_lost(self, session: str, reason: str) -> None:
        if session != self._session or self._lost is not None:
            return
        self._lost = LockLost(self.name, self._token, reason)
        self._lost_event.set()
        self.coordinator._holds.discard(self)
        if self._key is not None and not self.coordinator._closed:
            # The session may still be alive (the clock said "lost" before the server did):
            # our entry must not stay at the head of the queue.
            self.coordinator._spawn(self.coordinator._forget(self.namespace, self._key))
        if self.on_lost is not None:
            try:
                result = self.on_lost(self._lost)
                if inspect.isawaitable(result):
                    self.coordinator._spawn(result)
            except Exception:
                log.exception("on_lost callback of %s %r failed", self.kind, self.name)

    # ------------------------------------------------------------------ acquire and release
    async def acquire(self, *, blocking: bool = True, timeout: float | None = None) -> bool:
        """Wait for the lock; True once held, False if ``timeout`` passed (or, with
        ``blocking=False``, if it is not free right now).

        ``timeout`` counts from the call, on every backend; None or -1 (as in :mod:`threading`)
        waits for as long as it takes. Other negative numbers raise ValueError, and anything
        but a number or None raises TypeError.
        """
        timeout = wait_limit(timeout)
        if self._busy or (self._session is not None and self._lost is None):
            raise CoordinationError(
                f"{self.kind} {self.name!r} is already held (or being acquired) by this object; "
                "give each task its own lock object"
            )
        self._busy = True
        began = time.monotonic()
        outcome = "failed"
        try:
            acquired = await self._acquire(blocking=blocking, timeout=timeout)
            outcome = "acquired" if acquired else "timeout"
            if acquired:
                self._held_since = time.monotonic()
            return acquired
        finally:
            self._busy = False
            report(
                "lock.wait",
                time.monotonic() - began,
                kind=self.kind,
                backend=self.coordinator._backend.url.scheme,
                outcome=outcome,
            )

    async def _acquire(self, *, blocking: bool, timeout: float | None) -> bool:
        if not blocking:
            timeout = 0.0
        deadline = None if timeout is None else time.monotonic() + timeout
        coordinator = self.coordinator
        if self._value is None:
            self._value = json.dumps(
                {
                    "member": coordinator.member_id,
                    "limit": self.limit,
                    "mode": self.mode,
                    "lease": coordinator.lease,
                }
            ).encode()
        value = self._value
        key = new_key()
        while True:  # once per session: a session lost while waiting costs the place
            session = await coordinator._keeper.current(deadline)
            if self._contended:
                # The last acquisition had to wait: this one probably will too, so the watch
                # is opened first and the put's own read is the first read of the queue (one
                # round trip less; a driver that keeps a closed watch's subscription for a
                # while opens this one without any).
                async with self._watch(session, key) as watch:
                    placed = await self._put(session, key, value)
                    if placed is None:
                        continue
                    token, entries = placed
                    outcome = await self._settle(session, key, deadline, entries, watch)
            else:
                placed = await self._put(session, key, value)
                if placed is None:
                    continue
                token, entries = placed
                outcome = await self._settle(session, key, deadline, entries, None)
            if outcome is None:
                # Our entry vanished with the session, or the clock says the session is
                # over: queue again, under a new key in case the old entry lingers.
                await coordinator._forget(self.namespace, key)
                key = new_key()
                continue
            if not outcome:
                await coordinator._forget(self.namespace, key)
                return False
            break
        self._key, self._session, self._token, self._lost = key, session, token, None
        self._lost_event.clear()
        coordinator._holds.add(self)
        return True

    def _watch(self, session: str, key: str) -> contextlib.AbstractAsyncContextManager[Watch]:
        """What a waiter watches: the moment nothing is ahead of its own if it waits for an empty
        queue ahead (an exclusive holder), else every removal (new entries queue behind it)."""
        if self.limit == 1 and self.mode == "exclusive":
            return self.coordinator._watch(self.namespace, ahead_of=(session, key))
        return self.coordinator._watch(self.namespace, removals_only=True)

    async def _put(self, session: str, key: str, value: bytes) -> tuple[int, list[Entry]] | None:
        """Append our entry and read the queue (None: the session expired, try another)."""
        coordinator = self.coordinator
        try:
            return await coordinator._call(
                "acquire", coordinator._backend.put_and_read(session, self.namespace, key, value)
            )
        except SessionExpired:
            coordinator._keeper.expired(session)
            return None
        except BaseException:
            # the put may have landed, or may still land: delete now and later, in
            # the background (a cancelled caller must not wait for a slow backend)
            coordinator._forget_soon(self.namespace, key)
            coordinator._forget_later(self.namespace, key)
            raise

    async def _settle(
        self,
        session: str,
        key: str,
        deadline: float | None,
        entries: list[Entry],
        watch: Watch | None,
    ) -> bool | None:
        """Our turn given the queue the put read: True, False (too late) or None (gone),
        waiting on ``watch`` (opened before the put) or on a new one if need be."""
        try:
            outcome = self._turn(session, key, deadline, entries)
            if isinstance(outcome, list):
                self._contended = True
                if watch is None:
                    # Only now is a watch opened, so an uncontended acquisition costs two
                    # round trips (put+read, delete) and no subscription.
                    async with self._watch(session, key) as opened:
                        return await self._wait_turn(session, key, deadline, opened, None)
                return await self._wait_turn(session, key, deadline, watch, outcome)
            if outcome:
                self._contended = False
            return outcome
        except BaseException:
            self.coordinator._forget_soon(self.namespace, key)
            raise

    def _turn(
        self, session: str, key: str, deadline: float | None, entries: list[Entry]
    ) -> bool | list[Entry] | None:
        """What a read of the queue says: True (ours), False (too late), None (our entry or
        session is gone), or the entries ahead of ours, to wait for."""
        # ours is usually the last entry: look from the end
        index = next((i for i in range(len(entries) - 1, -1, -1) if entries[i].key == key), None)
        if index is None or not self.coordinator._keeper.alive(session):
            return None
        if index:
            self._check_limit(entries[:index])
        if granted(entries, index, self.limit, self.mode):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        return entries[:index]

    async def _wait_turn(
        self,
        session: str,
        key: str,
        deadline: float | None,
        watch: Watch,
        ahead: list[Entry] | None,
    ) -> bool | None:
        """Wait on ``watch`` for our turn; ``ahead``: the entries ahead of ours as read after
        the watch was opened (None: read the queue first)."""
        coordinator = self.coordinator
        backend = coordinator._backend
        server_expiry = SERVER_EXPIRY in backend.capabilities
        # Watch first, then read: a change after the read is never missed.
        while True:
            read_at = time.monotonic()
            if ahead is None:
                entries = await coordinator._call("read lock", backend.entries(self.namespace))
                read_at = time.monotonic()
                turn = self._turn(session, key, deadline, entries)
                if not isinstance(turn, list):
                    return turn
                ahead = turn
            # Re-read when an entry ahead may have expired, or after a lease at the latest
            # (a watch on a dropped connection may never fire).
            wake_at = read_at + max(coordinator.lease, 1.0)
            if not server_expiry:
                expiries = [e.expires_in for e in ahead if e.expires_in is not None]
                if expiries:
                    wake_at = min(wake_at, read_at + min(expiries) + EXPIRY_MARGIN)
            while True:
                limit = wake_at if deadline is None else min(wake_at, deadline)
                if not await watch.wait(max(limit - time.monotonic(), 0.0)):
                    ahead = None
                    break  # an entry ahead may have expired, or time is up: read again
                removed, left = watch.removed, watch.ahead
                if removed is None:
                    ahead = None
                    break  # the driver cannot say what changed: read again
                if key in removed:
                    return None
                # Only entries ahead matter (new ones queue behind us), and an entry that
                # was ahead at the read never comes back: the queue ahead of us is known
                # without a read, and the waiter whose turn it is goes ahead at once.
                still = [
                    entry
                    for entry in ahead
                    if entry.key not in removed and (left is None or entry.key in left)
                ]
                if len(still) < len(ahead):
                    ahead = still
                    if not coordinator._keeper.alive(session):
                        return None
                    if granted(ahead, len(ahead), self.limit, self.mode):
                        return True

    def _check_limit(self, ahead: list[Entry]) -> None:
        for entry in ahead:
            other = decode(entry).get("limit", self.limit)
            if other != self.limit:
                member = decode(entry).get("member")
                raise CoordinationError(
                    f"{self.kind} {self.name!r} is used with limit {other} by member "
                    f"{member!r}, and with limit {self.limit} here; every user must agree"
                )

    async def release(self) -> None:
        """Give the lock up. Releasing a lost lock does not raise: it is already gone, or
        going (its entry is deleted in case the session outlived the local clock's verdict).
        """
        key, session = self._key, self._session
        if key is None or session is None:
            raise CoordinationError(f"{self.kind} {self.name!r} is not held{self._not_held_hint}")
        self._key = self._session = None
        self.coordinator._holds.discard(self)
        report(
            "lock.hold",
            time.monotonic() - self._held_since,
            kind=self.kind,
            backend=self.coordinator._backend.url.scheme,
        )
        await self.coordinator._forget(self.namespace, key, raise_errors=self._lost is None)

    async def __aenter__(self) -> Self:
        if not await self.acquire(timeout=self.timeout):
            raise LockTimeout(self.name, self.timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._key is not None:
            await self.release()

    def blocking(self) -> BlockingLock:
        """This lock for threaded code (see :class:`BlockingLock`)."""
        from anker.coordination._blocking import BlockingLock

        return BlockingLock(self)


class Lock(_QueuedLock):
    """A leased exclusive lock with a fencing token::

        async with coordinator.lock("volume-42", timeout=10) as lock:
            await storage.write(data, fencing_token=lock.token)

    .. versionadded:: 0.1
    """

    kind = "lock"


class Semaphore(_QueuedLock):
    """At most ``limit`` holders at once, served first come first served.

    .. versionadded:: 0.1
    """

    kind = "semaphore"


class _RWSide(_QueuedLock):
    kind = "rwlock"
    _not_held_hint = (
        " by this side: each access to .read or .write makes a new side; keep the one"
        " acquired (side = rw.read) to release it"
    )


class ReadWriteLock:
    """Many readers or one writer, in arrival order (a writer waits for the readers ahead of
    it; readers behind a waiting writer wait for it)::

        rw = coordinator.rwlock("catalog")
        async with rw.read:
            ...

    Each access to :attr:`read` or :attr:`write` makes a new lock object, so that tasks
    sharing ``rw`` each hold their own.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        coordinator: Coordinator,
        name: str,
        *,
        timeout: float | None = None,
        on_lost: LostCallback | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.name = name
        self.timeout = wait_limit(timeout)
        self.on_lost = on_lost

    @property
    def read(self) -> _QueuedLock:
        """A new shared (reader's) side."""
        return _RWSide(
            self.coordinator, self.name, mode="shared", timeout=self.timeout, on_lost=self.on_lost
        )

    @property
    def write(self) -> _QueuedLock:
        """A new exclusive (writer's) side."""
        return _RWSide(
            self.coordinator,
            self.name,
            mode="exclusive",
            timeout=self.timeout,
            on_lost=self.on_lost,
        )


def infos(kind: str, name: str, entries: list[Entry]) -> list[LockInfo]:
    """Describe a lock's queue for introspection."""
    found = []
    for index, entry in enumerate(entries):
        value = decode(entry)
        mode: Mode = "shared" if value.get("mode") == "shared" else "exclusive"
        limit = value.get("limit", 1)
        found.append(
            LockInfo(
                kind=kind,
                name=name,
                member=str(value.get("member", "?")),
                token=entry.token,
                held=granted(entries, index, limit if isinstance(limit, int) else 1, mode),
                mode=mode,
                since=entry.created,
                expires_in=entry.expires_in,
            )
        )
    return found
