"""The interface a limits store implements; :class:`~anker.limits.Quota` does the rest.

A store holds the project tree, the limits (registered defaults and per-project limits), the
usage counters of :mod:`anker.limits._model` and the claims. Its one hard duty is
:meth:`Store.claim`: check every level the model involves and reserve, in one atomic step
against every other client of the same store (a transaction with row locks, a Lua script),
never refused because of claims whose lease ran out. Every other method is a
plain read or an atomic update.

Drivers are found by URL scheme in the ``anker.limits.stores`` entry point group. They raise
the errors of :mod:`anker.limits` where this module says so and their ``unavailable`` class
(:class:`~anker.limits.StoreUnavailable`) for an outage.

.. versionadded:: 0.1
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from anker._drivers import Driver, DriverSettings, Seconds, setting
from anker.limits._errors import StoreUnavailable
from anker.limits._model import MODELS, ClaimInfo, Usage

__all__ = ["DEFAULT_LEASE", "STORE_GROUP", "Store", "StoreSettings"]

STORE_GROUP = "anker.limits.stores"
#: seconds an uncommitted claim holds its reservation
DEFAULT_LEASE = 60.0


@dataclass(frozen=True)
class StoreSettings(DriverSettings):
    """The options of every limits store, from the URL's query or ``Quota.open``'s keywords."""

    #: which levels of the tree a claim is checked against
    model: str = setting(
        "hierarchical", choices=MODELS, help="enforcement model: " + ", ".join(MODELS)
    )
    #: how long an uncommitted claim holds its reservation
    lease: Seconds = setting(
        Seconds(DEFAULT_LEASE), min=0.01, help="seconds an uncommitted claim holds its reservation"
    )
    #: seconds one call to the store may take
    timeout: Seconds = setting(Seconds(5.0), min=0.1, help="seconds one call to the store may take")


class Store(Driver):
    """A limits store. Project and resource names arrive checked; amounts are >= 0 and
    limits >= -1."""

    settings_class: ClassVar[type[DriverSettings]] = StoreSettings
    settings: StoreSettings
    kind: ClassVar[str] = "limits store"
    unavailable = StoreUnavailable

    @property
    def connect_timeout(self) -> float:
        return self.settings.timeout

    async def upgrade(self) -> None:
        """Create or migrate the store's schema (what ``anker quota upgrade`` runs); stores
        without a schema do nothing."""

    # -- the tree -------------------------------------------------------------------------

    @abc.abstractmethod
    async def set_project(self, project: str, parent: str | None) -> None:
        """Add ``project`` under ``parent`` (None: a root), or move it there. Raises
        :class:`~anker.limits.UnknownProject` for an unknown parent and
        :class:`~anker.limits.InvalidTree` for a cycle, or when the project (or a descendant)
        has usage (moving it would leave the old ancestors' subtree counters wrong)."""

    @abc.abstractmethod
    async def delete_project(self, project: str) -> None:
        """Remove a project with no children, no usage and no claims (else
        :class:`~anker.limits.InvalidTree`), with its limits."""

    @abc.abstractmethod
    async def projects(self) -> dict[str, str | None]:
        """Every project, with its parent (None for a root)."""

    # -- limits ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def set_default(self, resource: str, limit: int | None) -> None:
        """Register the default limit of ``resource`` (None: remove the registration)."""

    @abc.abstractmethod
    async def defaults(self) -> dict[str, int]:
        """The registered default limits, by resource."""

    @abc.abstractmethod
    async def set_limit(self, project: str, resource: str, limit: int | None) -> None:
        """Set ``project``'s own limit of ``resource`` (None: back to the default)."""

    @abc.abstractmethod
    async def limits(self) -> dict[str, dict[str, int]]:
        """Every project's own limits, by project and resource."""

    # -- claims ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def claim(
        self, claim_id: str, project: str, resources: Mapping[str, int], lease: float, note: str
    ) -> ClaimInfo:
        """Atomically check ``resources`` against every level of ``project``'s path that the
        model involves, and reserve them as the pending claim ``claim_id`` expiring after
        ``lease`` seconds. The reservations of expired claims never refuse a claim: they are
        given back first (always, or only when they would be in the way). Raises
        :class:`~anker.limits.OverQuota`, :class:`~anker.limits.UnknownProject` or
        :class:`~anker.limits.UnknownResource`, reserving nothing."""

    @abc.abstractmethod
    async def commit(self, claim_id: str) -> ClaimInfo:
        """Make a pending claim permanent (idempotent); :class:`~anker.limits.ClaimNotFound`
        if it is gone."""

    @abc.abstractmethod
    async def release(self, claim_id: str) -> ClaimInfo | None:
        """Delete a claim and give back what it reserved; None if it was already gone (a
        second release gives back nothing)."""

    @abc.abstractmethod
    async def claims(self, project: str | None = None) -> list[ClaimInfo]:
        """The live claims (of ``project`` only, if given), oldest first."""

    @abc.abstractmethod
    async def sweep(self) -> int:
        """Give back the reservations of uncommitted claims whose lease ran out; how many."""

    async def expired(self) -> list[ClaimInfo]:
        """The uncommitted claims whose lease ran out and that no sweep gave back yet (what
        :meth:`sweep` would give back), read without writing; by the store's clock."""
        now = time.time()
        return [c for c in await self.claims() if c.expires is not None and c.expires < now]

    # -- usage ----------------------------------------------------------------------------

    @abc.abstractmethod
    async def usage(self) -> list[Usage]:
        """Every project's counters for every resource it has a limit, usage or default of."""

    @abc.abstractmethod
    async def adjust(self, project: str, resource: str, delta: int) -> int:
        """Add ``delta`` to ``project``'s committed usage of ``resource`` (and its ancestors'
        subtree usage), never below 0; the committed usage afterwards (what a recount's
        repair uses)."""

    def check_model(self, model: str) -> str:
        """``model`` if known; ValueError naming the choices otherwise."""
        if model not in MODELS:
            raise ValueError(f"enforcement model {model!r}: use one of {', '.join(MODELS)}")
        return model
