"""The errors of anker.coordination; each names the lock, group or backend it is about.

::

    CoordinationError
     ├── InvalidName          (also ValueError)  a lock, group or member name a backend cannot hold
     ├── BackendUnavailable                      the backend did not answer within the timeout
     ├── LockTimeout          (also TimeoutError) a lock was not acquired within ``timeout``
     ├── LockLost                                 the lease behind a held lock ran out
     └── MemberExists                             a member id is already in a group

``BackendUnavailable`` is also an :class:`anker.errors.Unavailable`, the common parent of every
subsystem's outage; asking for a capability a backend lacks raises
:class:`anker.errors.CapabilityMissing` when the coordinator connects.
"""

from __future__ import annotations

from anker.errors import AnkerError, Unavailable

__all__ = [
    "BackendUnavailable",
    "CoordinationError",
    "InvalidName",
    "LockLost",
    "LockTimeout",
    "MemberExists",
]


class CoordinationError(AnkerError):
    """Something went wrong coordinating through a backend."""


class InvalidName(CoordinationError, ValueError):
    """A name that cannot be used: empty, too long, or with characters a backend cannot hold."""

    def __init__(self, what: str, name: object, reason: str) -> None:
        self.what = what
        self.name = name
        super().__init__(f"invalid {what} name {name!r}: {reason}")


class BackendUnavailable(CoordinationError, Unavailable):
    """The backend did not answer (or refused) within the operation timeout.

    ``url`` is the backend's URL with its password masked; ``operation`` and ``reason`` say
    what failed (see :class:`anker.errors.Unavailable`).
    """

    what = "coordination backend"


class LockTimeout(CoordinationError, TimeoutError):
    """A lock (or semaphore slot) was not acquired within the time allowed."""

    def __init__(self, name: str, timeout: float | None) -> None:
        self.lock_name = name
        self.timeout = timeout
        waited = "at once (blocking=False)" if timeout == 0 else f"within {timeout:g} s"
        super().__init__(f"lock {name!r} was not acquired {waited}")


class LockLost(CoordinationError):
    """The lease behind a held lock ran out: another holder may have it now.

    ``token`` is the fencing token that became stale.
    """

    def __init__(self, name: str, token: int | None, reason: str) -> None:
        self.lock_name = name
        self.token = token
        super().__init__(f"lock {name!r} (token {token}) was lost: {reason}")


class MemberExists(CoordinationError):
    """Another live session already joined the group under this member id."""

    def __init__(self, group: str, member: str) -> None:
        self.group = group
        self.member = member
        super().__init__(f"member {member!r} is already in group {group!r}")
