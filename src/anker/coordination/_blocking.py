"""The coordinator for threaded code: the same coroutines, run on the coordinator's loop.

A coordinator belongs to the event loop it was connected on (its connections and tasks do),
so every blocking call hands its coroutine to that loop through one
:class:`~anker._runtime.Portal` and waits: :meth:`BlockingCoordinator.connect` opens the
coordinator on anker's background loop; ``coordinator.blocking()`` wraps one opened on a loop of
yours, which must keep running.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Self

from anker._runtime import Portal, run_blocking
from anker.coordination._errors import CoordinationError, LockLost, LockTimeout

if TYPE_CHECKING:
    from anker.coordination._coordinator import Coordinator
    from anker.coordination._election import Election
    from anker.coordination._group import Group, Member
    from anker.coordination._lock import LockInfo, LostCallback, ReadWriteLock, _QueuedLock

__all__ = [
    "BlockingCoordinator",
    "BlockingElection",
    "BlockingGroup",
    "BlockingLock",
    "BlockingReadWriteLock",
]


def _portal(coordinator: Coordinator) -> Portal:
    if coordinator._loop is None:
        raise CoordinationError("the coordinator is not connected")
    return Portal(coordinator._loop)


class BlockingLock:
    """A lock (or semaphore, or side of a read/write lock) for threaded code.

    For example::

        with coordinator.blocking().lock("volume-42", timeout=10) as lock:
            write(data, fencing_token=lock.token)
    """

    def __init__(self, lock: _QueuedLock) -> None:
        self.lock = lock
        self._portal = _portal(lock.coordinator)

    def acquire(self, *, blocking: bool = True, timeout: float | None = None) -> bool:
        """Acquire; False if ``blocking=False`` and it is taken, or ``timeout`` passed (None
        or -1, as in :mod:`threading`: wait for ever)."""
        return self._portal.run(self.lock.acquire(blocking=blocking, timeout=timeout))

    def release(self) -> None:
        """Release (deleting the entry); the fencing token is stale from then on."""
        self._portal.run(self.lock.release())

    @property
    def held(self) -> bool:
        """Whether this lock is held and not lost."""
        return self.lock.held

    @property
    def lost(self) -> bool:
        """Whether the lease behind the held lock ran out."""
        return self.lock.lost

    @property
    def token(self) -> int:
        """The fencing token of the holding; raises LockLost once it is stale."""
        return self.lock.token

    def check(self) -> None:
        """Raise :class:`LockLost` if the lock was lost."""
        self.lock.check()

    def __enter__(self) -> Self:
        if not self.acquire(timeout=self.lock.timeout):
            raise LockTimeout(self.lock.name, self.lock.timeout)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.lock._key is not None:
            self.release()


class BlockingReadWriteLock:
    """A read/write lock for threaded code: ``with rw.read: ...`` or ``with rw.write: ...``."""

    def __init__(self, rwlock: ReadWriteLock) -> None:
        self.rwlock = rwlock

    @property
    def read(self) -> BlockingLock:
        """A new shared (reader's) side."""
        return BlockingLock(self.rwlock.read)

    @property
    def write(self) -> BlockingLock:
        """A new exclusive (writer's) side."""
        return BlockingLock(self.rwlock.write)


class BlockingGroup:
    """A group for threaded code: join, leave and list members."""

    def __init__(self, group: Group) -> None:
        self.group = group
        self._portal = _portal(group.coordinator)

    @property
    def joined(self) -> bool:
        """Whether this coordinator's member is in the group."""
        return self.group.joined

    def join(self, capabilities: Mapping[str, Any] | None = None) -> None:
        """Join under the coordinator's member id (again on every new session)."""
        self._portal.run(self.group.join(capabilities))

    def leave(self) -> None:
        """Leave the group."""
        self._portal.run(self.group.leave())

    def members(self) -> list[Member]:
        """The live members, by member id."""
        return self._portal.run(self.group.members())


class BlockingElection:
    """A leader election for threaded code; the callbacks run on the coordinator's loop."""

    def __init__(self, election: Election) -> None:
        self.election = election
        self._portal = _portal(election.coordinator)

    @property
    def is_leader(self) -> bool:
        """Whether this member leads now."""
        return self.election.is_leader

    @property
    def token(self) -> int:
        """The fencing token of this leadership; raises LockLost once it is over."""
        return self.election.token

    def campaign(
        self,
        *,
        on_elected: Callable[[], object] | None = None,
        on_lost: Callable[[LockLost | None], object] | None = None,
    ) -> None:
        """Stand for election in the background (see :meth:`Election.campaign`)."""
        self._portal.run(self.election.campaign(on_elected=on_elected, on_lost=on_lost))

    def wait_elected(self, timeout: float | None = None) -> bool:
        """Wait until this member leads; False if ``timeout`` passed first (None or -1: wait
        for ever)."""
        return self._portal.run(self.election.wait_elected(timeout))

    def resign(self) -> None:
        """Stop campaigning and give up leadership."""
        self._portal.run(self.election.resign())

    def leader(self) -> str | None:
        """The member id of the current leader, or None."""
        return self._portal.run(self.election.leader())


class BlockingCoordinator:
    """:class:`Coordinator` for threaded code::

        with BlockingCoordinator.connect("redis://127.0.0.1:6379") as coordinator:
            with coordinator.lock("volume-42", timeout=10) as lock:
                write(data, fencing_token=lock.token)

    :meth:`connect` opens the coordinator on anker's background loop;
    ``coordinator.blocking()`` wraps one opened on a loop of yours, which must keep running.
    """

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self._portal = _portal(coordinator)

    @classmethod
    def connect(cls, url: str, **options: Any) -> BlockingCoordinator:
        """Connect as :meth:`Coordinator.connect` does, on anker's background loop."""
        from anker.coordination._coordinator import Coordinator

        return cls(run_blocking(Coordinator.connect(url, **options)))

    @property
    def member_id(self) -> str:
        """This coordinator's member id."""
        return self.coordinator.member_id

    @property
    def capabilities(self) -> frozenset[str]:
        """What the backend declares it can do."""
        return self.coordinator.capabilities

    def close(self) -> None:
        """Release everything, end the session and close the backend."""
        self._portal.run(self.coordinator.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def lock(
        self, name: str, *, timeout: float | None = None, on_lost: LostCallback | None = None
    ) -> BlockingLock:
        """An exclusive lock (see :meth:`Coordinator.lock`)."""
        return BlockingLock(self.coordinator.lock(name, timeout=timeout, on_lost=on_lost))

    def semaphore(
        self,
        name: str,
        limit: int,
        *,
        timeout: float | None = None,
        on_lost: LostCallback | None = None,
    ) -> BlockingLock:
        """A semaphore with ``limit`` slots (see :meth:`Coordinator.semaphore`)."""
        semaphore = self.coordinator.semaphore(name, limit, timeout=timeout, on_lost=on_lost)
        return BlockingLock(semaphore)

    def rwlock(
        self, name: str, *, timeout: float | None = None, on_lost: LostCallback | None = None
    ) -> BlockingReadWriteLock:
        """A read/write lock (see :meth:`Coordinator.rwlock`)."""
        return BlockingReadWriteLock(
            self.coordinator.rwlock(name, timeout=timeout, on_lost=on_lost)
        )

    def group(self, name: str) -> BlockingGroup:
        """A group to join, leave and list."""
        return BlockingGroup(self.coordinator.group(name))

    def election(self, name: str) -> BlockingElection:
        """A leader election."""
        return BlockingElection(self.coordinator.election(name))

    def locks(self) -> list[LockInfo]:
        """Every lock, semaphore and read/write lock with live entries, holders first."""
        return self._portal.run(self.coordinator.locks())

    def groups(self) -> dict[str, list[Member]]:
        """Every group with live members."""
        return self._portal.run(self.coordinator.groups())

    def leaders(self) -> dict[str, str]:
        """The current leader of every election with candidates."""
        return self._portal.run(self.coordinator.leaders())
