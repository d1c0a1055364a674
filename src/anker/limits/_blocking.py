"""The quota for threaded code: the same coroutines, run on the quota's event loop.

A quota belongs to the event loop it was opened on, so every blocking call hands its
coroutine to that loop through one :class:`~anker._runtime.Portal` and waits:
:meth:`BlockingQuota.open` opens the quota on anker's background loop; ``quota.blocking()``
wraps one opened on a loop of yours, which must keep running.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Self

from anker._runtime import Portal, run_blocking
from anker.limits._errors import LimitsError

if TYPE_CHECKING:
    from types import TracebackType

    from anker.limits._claim import Claim
    from anker.limits._model import ClaimInfo, Usage
    from anker.limits._quota import Counter, Drift, Quota

__all__ = ["BlockingClaim", "BlockingQuota"]


def _portal(quota: Quota) -> Portal:
    if quota.store.loop is None:
        raise LimitsError("the quota is not open")
    return Portal(quota.store.loop)


class BlockingClaim:
    """A :class:`~anker.limits.Claim` for threaded code; as a context manager, committed
    when the block succeeds and released when it raises."""

    def __init__(self, claim: Claim, portal: Portal) -> None:
        self.claim = claim
        self._portal = portal

    @property
    def id(self) -> str:
        """The claim's id."""
        return self.claim.id

    @property
    def committed(self) -> bool:
        """Whether the claim was committed."""
        return self.claim.committed

    def commit(self) -> None:
        """See :meth:`Claim.commit <anker.limits.Claim.commit>`."""
        self._portal.run(self.claim.commit())

    def release(self) -> bool:
        """See :meth:`Claim.release <anker.limits.Claim.release>`."""
        return self._portal.run(self.claim.release())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.release()

    def __repr__(self) -> str:
        return repr(self.claim).replace("<Claim", "<BlockingClaim", 1)


class BlockingQuota:
    """A :class:`~anker.limits.Quota` for threaded code.

    For example::

        quota = BlockingQuota.open("sqlite:///var/lib/svc/limits.db")
        with quota.claim("project-a", {"cores": 4}):
            create_server()
    """

    def __init__(self, quota: Quota) -> None:
        self.quota = quota
        self._portal = _portal(quota)

    @classmethod
    def open(cls, url: str, **options: Any) -> BlockingQuota:
        """Open as :meth:`Quota.open <anker.limits.Quota.open>` does, on anker's background
        loop."""
        from anker.limits._quota import Quota

        return cls(run_blocking(Quota.open(url, **options)))

    def close(self) -> None:
        """Close the store's connections."""
        self._portal.run(self.quota.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_project(self, project: str, parent: str | None = None) -> None:
        """See :meth:`Quota.set_project <anker.limits.Quota.set_project>`."""
        self._portal.run(self.quota.set_project(project, parent))

    def delete_project(self, project: str) -> None:
        """See :meth:`Quota.delete_project <anker.limits.Quota.delete_project>`."""
        self._portal.run(self.quota.delete_project(project))

    def projects(self) -> dict[str, str | None]:
        """See :meth:`Quota.projects <anker.limits.Quota.projects>`."""
        return self._portal.run(self.quota.projects())

    def set_default(self, resource: str, limit: int | None) -> None:
        """See :meth:`Quota.set_default <anker.limits.Quota.set_default>`."""
        self._portal.run(self.quota.set_default(resource, limit))

    def set_limit(self, project: str, resource: str, limit: int | None) -> None:
        """See :meth:`Quota.set_limit <anker.limits.Quota.set_limit>`."""
        self._portal.run(self.quota.set_limit(project, resource, limit))

    def claim(
        self,
        project: str,
        resources: Mapping[str, int],
        *,
        lease: float | dt.timedelta | None = None,
        note: str = "",
    ) -> BlockingClaim:
        """See :meth:`Quota.claim <anker.limits.Quota.claim>`."""
        claim = self._portal.run(self.quota.claim(project, resources, lease=lease, note=note))
        return BlockingClaim(claim, self._portal)

    def release(self, claim_id: str) -> bool:
        """See :meth:`Quota.release <anker.limits.Quota.release>`."""
        return self._portal.run(self.quota.release(claim_id))

    def claims(self, project: str | None = None) -> list[ClaimInfo]:
        """See :meth:`Quota.claims <anker.limits.Quota.claims>`."""
        return self._portal.run(self.quota.claims(project))

    def usage(self, project: str | None = None) -> list[Usage]:
        """See :meth:`Quota.usage <anker.limits.Quota.usage>`."""
        return self._portal.run(self.quota.usage(project))

    def recount(
        self, counter: Counter, *, projects: Iterable[str] | None = None, repair: bool = False
    ) -> list[Drift]:
        """See :meth:`Quota.recount <anker.limits.Quota.recount>`."""
        return self._portal.run(self.quota.recount(counter, projects=projects, repair=repair))
