"""``Quota``: the project tree, its limits, atomic claims and recounts, on one store."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from anker._observe import report
from anker.limits._claim import Claim
from anker.limits._errors import OverQuota, UnknownProject
from anker.limits._model import (
    MAX_AMOUNT,
    ClaimInfo,
    Usage,
    check_amounts,
    check_limit,
    check_name,
)
from anker.limits._store import STORE_GROUP, Store
from anker.limits._two_level import TwoLevel

if TYPE_CHECKING:
    from types import TracebackType

    from anker._url import BackendURL
    from anker.limits._blocking import BlockingQuota

__all__ = ["Counter", "Drift", "Quota"]

#: ``counter(project, resources)``: what the service really uses, by resource (a resource
#: left out counts 0; one given as None was not counted and is left as it is)
Counter = Callable[[str, list[str]], Mapping[str, int | None] | Awaitable[Mapping[str, int | None]]]


@dataclass(frozen=True, slots=True)
class Drift:
    """A recount's finding: ``recorded`` committed usage against ``counted`` by the service."""

    project: str
    resource: str
    recorded: int
    counted: int
    #: whether the recount set the recorded usage to the counted one
    repaired: bool

    @property
    def delta(self) -> int:
        """``counted - recorded``: what the store was missing (negative: what it had too much)."""
        return self.counted - self.recorded


class Quota:
    """Quotas on a project tree, enforced by atomic claims on one store.

    Open it with :meth:`open`; see ``docs/limits.md``. A quota belongs to the event loop it was
    opened on; threads use :meth:`blocking` (or :meth:`BlockingQuota.open
    <anker.limits.BlockingQuota.open>`).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.model = store.settings.model
        self.lease = store.settings.lease

    @classmethod
    async def open(
        cls,
        url: str | BackendURL,
        *,
        model: str | None = None,
        lease: float | dt.timedelta | None = None,
        timeout: float | dt.timedelta | None = None,
        upgrade: bool = False,
        **options: object,
    ) -> Self:
        """Open the store a URL names: ``sqlite:///path``, ``postgresql://...`` or
        ``redis://...``.

        ``model`` is the enforcement model (``flat``, ``strict-two-level`` or
        ``hierarchical``, the default), ``lease`` how long an uncommitted claim holds its
        reservation (default 60 s) and ``timeout`` how long one call may take; each may be
        given in the URL's query instead (``?model=flat&lease=30s``). A SQL store's tables are
        created by its migrations, run only when asked: ``upgrade=True`` here, or
        ``anker quota --url URL upgrade``; without them opening raises
        :class:`~anker.db.SchemaNotCurrent`.
        """
        from anker._drivers import open_driver

        given = {"model": model, "lease": lease, "timeout": timeout}
        options |= {name: value for name, value in given.items() if value is not None}

        async def start(store: Store) -> None:
            if upgrade:
                await store.upgrade()
            await store.connect()

        store = await open_driver(STORE_GROUP, url, Store, options, start=start)
        return cls(store)

    async def aclose(self) -> None:
        """Close the store's connections (claims stay as they are)."""
        await self.store.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Quota {self.store.url} model={self.model}>"

    def blocking(self) -> BlockingQuota:
        """This quota for threaded code (its event loop must keep running)."""
        from anker.limits._blocking import BlockingQuota

        return BlockingQuota(self)

    # -- the tree -------------------------------------------------------------------------

    async def set_project(self, project: str, parent: str | None = None) -> None:
        """Add ``project`` under ``parent`` (None: a root, such as a domain), or move it
        there if it has no usage. Under ``strict-two-level`` the tree is two levels deep:
        a parent must be a root, and a project with children cannot get a parent."""
        check_name("project", project)
        if parent is not None:
            check_name("project", parent)
        if self.model == "strict-two-level" and parent is not None:
            TwoLevel(await self.store.projects()).check_project(project, parent)
        await self.store.set_project(project, parent)

    async def delete_project(self, project: str) -> None:
        """Remove a project with no children, claims or usage, with its limits."""
        await self.store.delete_project(check_name("project", project))

    async def projects(self) -> dict[str, str | None]:
        """Every project, with its parent (None for a root)."""
        return await self.store.projects()

    # -- limits ---------------------------------------------------------------------------

    async def set_default(self, resource: str, limit: int | None) -> None:
        """Register ``resource`` with a default limit for every project that has none of its
        own (-1: unlimited; None: unregister). A resource with neither is refused by
        claims (:class:`~anker.limits.UnknownResource`), never treated as 0 or unlimited."""
        check_name("resource", resource)
        await self.store.set_default(
            resource, None if limit is None else check_limit(resource, limit)
        )

    async def defaults(self) -> dict[str, int]:
        """The registered default limits, by resource."""
        return await self.store.defaults()

    async def set_limit(self, project: str, resource: str, limit: int | None) -> None:
        """Set ``project``'s own limit of ``resource`` (-1: unlimited; None: back to the
        registered default). Under ``strict-two-level`` a child's limit may not exceed its
        parent's, as in Keystone."""
        check_name("project", project)
        check_name("resource", resource)
        if limit is not None:
            check_limit(resource, limit)
        if self.model == "strict-two-level" and limit is not None:
            await self._check_two_level(project, resource, limit)
        await self.store.set_limit(project, resource, limit)

    async def _check_two_level(self, project: str, resource: str, limit: int) -> None:
        tree, own, registered = await asyncio.gather(
            self.store.projects(), self.store.limits(), self.store.defaults()
        )
        TwoLevel(tree, own, registered).check_limit(project, resource, limit)

    async def limits(self) -> dict[str, dict[str, int]]:
        """Every project's own limits, by project and resource."""
        return await self.store.limits()

    async def limit(self, project: str, resource: str) -> int:
        """``project``'s effective limit of ``resource``: its own, else the default."""
        own, registered = await asyncio.gather(self.store.limits(), self.store.defaults())
        found = own.get(project, {}).get(resource, registered.get(resource))
        if found is None:
            from anker.limits._errors import UnknownResource

            raise UnknownResource(resource, project)
        return found

    # -- claims ---------------------------------------------------------------------------

    async def claim(
        self,
        project: str,
        resources: Mapping[str, int],
        *,
        lease: float | dt.timedelta | None = None,
        note: str = "",
    ) -> Claim:
        """Check and reserve ``resources`` for ``project`` in one atomic step against every
        level of the tree the model involves.

        Returns a pending :class:`~anker.limits.Claim`: commit it once the resource exists,
        release it when the resource is deleted; uncommitted, it is given back after
        ``lease`` seconds (default: the store's ``lease``). Raises
        :class:`~anker.limits.OverQuota` (naming the binding project),
        :class:`~anker.limits.UnknownProject` or :class:`~anker.limits.UnknownResource`,
        reserving nothing.
        """
        check_name("project", project)
        amounts = check_amounts(resources)
        seconds = self.lease if lease is None else _seconds(lease)
        if seconds <= 0:
            raise ValueError(f"lease {lease!r}: use a positive number of seconds")
        began = time.monotonic()
        outcome = "failed"
        try:
            info = await self.store.claim(uuid.uuid4().hex, project, amounts, seconds, note)
            outcome = "granted"
        except OverQuota:
            outcome = "refused"
            raise
        finally:
            report(
                "quota.claim",
                time.monotonic() - began,
                store=self.store.url.scheme,
                outcome=outcome,
            )
        return Claim(self.store, info)

    async def commit(self, claim_id: str) -> None:
        """Commit the claim ``claim_id`` (when only its id was kept)."""
        await self.store.commit(claim_id)

    async def release(self, claim_id: str) -> bool:
        """Release the claim ``claim_id``; False if it was already gone."""
        return await self.store.release(claim_id) is not None

    async def claims(self, project: str | None = None) -> list[ClaimInfo]:
        """The live claims (of ``project`` only, if given), oldest first; expired ones are
        given back first."""
        await self.store.sweep()
        return await self.store.claims(project)

    async def sweep(self) -> int:
        """Give back expired claims now (claims do it too); how many there were."""
        return await self.store.sweep()

    # -- usage ----------------------------------------------------------------------------

    async def usage(self, project: str | None = None) -> list[Usage]:
        """The counters and effective limits of every project (or of ``project``), after
        giving back expired claims."""
        await self.store.sweep()
        found = await self.store.usage()
        if project is None:
            return found
        if project not in await self.store.projects():
            raise UnknownProject(project)
        return [entry for entry in found if entry.project == project]

    async def recount(
        self,
        counter: Counter,
        *,
        projects: Iterable[str] | None = None,
        repair: bool = False,
    ) -> list[Drift]:
        """Ask the service what it really uses and compare with the committed usage.

        ``counter(project, resources)`` (a function or coroutine function, oslo.limit's
        usage callback) returns the usage of ``resources`` in ``project`` from the service's
        own source of truth: a resource it leaves out counts 0, one it gives as None was not
        counted and is neither checked nor repaired. Returns one :class:`Drift` per (project,
        resource) that differs; with ``repair=True`` the store's committed usage is set to the
        counted one (reservations of pending claims stay as they are).
        """
        usage = await self.store.usage()
        wanted = set(projects) if projects is not None else None
        by_project: dict[str, list[Usage]] = {}
        for entry in usage:
            if wanted is None or entry.project in wanted:
                by_project.setdefault(entry.project, []).append(entry)
        drifts = []
        for project, entries in sorted(by_project.items()):
            result = counter(project, [entry.resource for entry in entries])
            counted = await result if inspect.isawaitable(result) else result
            for entry in entries:
                value = counted.get(entry.resource, 0)
                if value is None:  # not counted: left as it is
                    continue
                actual = int(value)
                if not 0 <= actual <= MAX_AMOUNT:
                    raise ValueError(
                        f"recount of {entry.resource!r} in {project!r}: {actual} is not from 0 "
                        f"to {MAX_AMOUNT}"
                    )
                if actual == entry.committed:
                    continue
                if repair:
                    await self.store.adjust(project, entry.resource, actual - entry.committed)
                drifts.append(Drift(project, entry.resource, entry.committed, actual, repair))
        return drifts


def _seconds(value: float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
