"""The errors of anker.limits; each carries the facts a caller needs to act on it.

::

    LimitsError
     ├── OverQuota            a claim would take a project of the tree over a limit
     ├── UnknownProject       (also LookupError) a project the store has never been told of
     ├── UnknownResource      (also LookupError) a resource with no limit and no registered default
     ├── ClaimNotFound        (also LookupError) a claim released, or expired and swept
     ├── InvalidTree          (also ValueError) a parent that makes a cycle or breaks the model
     ├── ConcurrencyLimitReached  at most N operations run at once for this key
     └── StoreUnavailable     (also anker.errors.Unavailable) the store did not answer

.. versionadded:: 0.1
"""

from __future__ import annotations

from anker.errors import AnkerError, Unavailable

__all__ = [
    "ClaimNotFound",
    "ConcurrencyLimitReached",
    "InvalidTree",
    "LimitsError",
    "OverQuota",
    "StoreUnavailable",
    "UnknownProject",
    "UnknownResource",
]


class LimitsError(AnkerError):
    """Something went wrong enforcing limits."""


class OverQuota(LimitsError):
    """Granting the claim would take ``binding`` over its limit of ``resource``.

    ``project`` is the project that claimed; ``binding`` the project of the hierarchy whose
    limit refused it (the project itself, or one of its ancestors); ``requested`` what the
    claim asked for, ``used`` what ``binding`` already had in use or reserved (its subtree's,
    under a hierarchical model) and ``limit`` its limit.
    """

    def __init__(
        self, project: str, resource: str, *, requested: int, used: int, limit: int, binding: str
    ) -> None:
        self.project = project
        self.resource = resource
        self.requested = requested
        self.used = used
        self.limit = limit
        self.binding = binding
        where = (
            f"project {project!r}"
            if binding == project
            else (f"project {project!r}: its ancestor {binding!r}")
        )
        super().__init__(
            f"{where} would exceed its limit of {resource!r}: {used} used + {requested} "
            f"requested > {limit}"
        )


class UnknownProject(LimitsError, LookupError):
    """``project`` is not in the store's project tree (add it with ``set_project``)."""

    def __init__(self, project: str) -> None:
        self.project = project
        super().__init__(
            f"no project {project!r} in the tree (add it with set_project, or "
            f"`anker quota set {project} --root` / `--parent PARENT`)"
        )


class UnknownResource(LimitsError, LookupError):
    """``resource`` has no limit for ``project`` and no registered default: it is refused
    rather than silently limited to 0 or left unlimited."""

    def __init__(self, resource: str, project: str) -> None:
        self.resource = resource
        self.project = project
        super().__init__(
            f"resource {resource!r} has no limit for project {project!r} and no registered "
            f"default (register one with set_default)"
        )


class ClaimNotFound(LimitsError, LookupError):
    """The claim ``claim_id`` is gone: released, or expired before it was committed."""

    def __init__(self, claim_id: str) -> None:
        self.claim_id = claim_id
        super().__init__(f"claim {claim_id} is gone: released, or its lease ran out uncommitted")


class InvalidTree(LimitsError, ValueError):
    """A change to the project tree or its limits that the model does not allow."""


class ConcurrencyLimitReached(LimitsError):
    """``limit`` operations already run for ``key`` (and the caller chose not to wait, or
    ``timeout`` passed)."""

    def __init__(self, key: str, limit: int, timeout: float | None) -> None:
        self.key = key
        self.limit = limit
        self.timeout = timeout
        waited = "" if not timeout else f" (waited {timeout:g} s)"
        super().__init__(f"{limit} operations already run for {key!r}{waited}")


class StoreUnavailable(LimitsError, Unavailable):
    """The limits store did not answer (or refused) within its timeout."""

    what = "limits store"
