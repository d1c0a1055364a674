"""anker.coordination: leased locks with fencing tokens, semaphores, groups, leader election.

::

    from anker.coordination import Coordinator

    async with await Coordinator.connect("etcd://127.0.0.1:2379") as coordinator:
        async with coordinator.lock("volume-42", timeout=10) as lock:
            await storage.write(data, fencing_token=lock.token)

Backends, by URL scheme: ``file:///dir`` and ``sqlite:///file`` (embedded, one host),
``redis://``, ``postgresql://``, ``etcd://`` and ``zookeeper://``. Every primitive is built on
one small backend interface (``anker.coordination.backends.Backend``, for driver authors):
leased sessions, entries with tokens, and watches. See ``docs/coordination.md`` for the safety
model.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker.coordination._backend import SERVER_EXPIRY
from anker.coordination._blocking import (
    BlockingCoordinator,
    BlockingElection,
    BlockingGroup,
    BlockingLock,
    BlockingReadWriteLock,
)
from anker.coordination._coordinator import Coordinator
from anker.coordination._election import Election
from anker.coordination._errors import (
    BackendUnavailable,
    CoordinationError,
    InvalidName,
    LockLost,
    LockTimeout,
    MemberExists,
)
from anker.coordination._group import Group, GroupEvent, GroupWatch, Member
from anker.coordination._lock import Lock, LockInfo, ReadWriteLock, Semaphore
from anker.coordination._partition import Partitioner

__all__ = [
    "SERVER_EXPIRY",
    "BackendUnavailable",
    "BlockingCoordinator",
    "BlockingElection",
    "BlockingGroup",
    "BlockingLock",
    "BlockingReadWriteLock",
    "CoordinationError",
    "Coordinator",
    "Election",
    "Group",
    "GroupEvent",
    "GroupWatch",
    "InvalidName",
    "Lock",
    "LockInfo",
    "LockLost",
    "LockTimeout",
    "Member",
    "MemberExists",
    "Partitioner",
    "ReadWriteLock",
    "Semaphore",
]

show_public_paths(__name__, globals(), __all__)
