"""``ConcurrencyLimit``: at most N operations at once per key, held as leased semaphore slots.

Built on :mod:`anker.coordination` semaphores: a slot is an entry of the coordinator's
session, so a holder that dies frees its slot when its lease runs out (the coordinator's
``lease``), and every process sharing the coordination backend shares the limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

from anker.limits._errors import ConcurrencyLimitReached

if TYPE_CHECKING:
    from anker.coordination import Coordinator, Semaphore

__all__ = ["ConcurrencyLimit"]


class ConcurrencyLimit:
    """At most ``limit`` concurrent operations per key of ``scope`` (``"builds"``,
    ``"uploads"``), with ``limits`` overriding it for some keys (a project, a user, a host)::

        builds = ConcurrencyLimit(coordinator, "builds", limit=2)
        async with builds.slot("project-a", timeout=30):  # wait up to 30 s for a slot
            await run_build()
        async with builds.slot("project-a", wait=False):  # or refuse at once
            ...

    Keys and the scope are coordination names (letters, digits and ``_ . : @ + = -``).
    """

    def __init__(
        self,
        coordinator: Coordinator,
        scope: str,
        *,
        limit: int,
        limits: Mapping[str, int] | None = None,
    ) -> None:
        for key, value in {"": limit, **(limits or {})}.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                where = f"for {key!r}" if key else "of " + repr(scope)
                raise ValueError(f"concurrency limit {where}: {value!r} is not a whole number >= 1")
        self.coordinator = coordinator
        self.scope = scope
        self.limit = limit
        self.limits = dict(limits or {})

    def limit_of(self, key: str) -> int:
        """How many operations may run at once for ``key``."""
        return self.limits.get(key, self.limit)

    def semaphore(self, key: str) -> Semaphore:
        """The coordination semaphore behind ``key``'s slots."""
        return self.coordinator.semaphore(f"{self.scope}.{key}", self.limit_of(key))

    @contextlib.asynccontextmanager
    async def slot(
        self, key: str, *, timeout: float | None = None, wait: bool = True
    ) -> AsyncIterator[Semaphore]:
        """Hold one of ``key``'s slots for the block.

        Waits up to ``timeout`` seconds (None: as long as it takes) for a slot, or with
        ``wait=False`` not at all; raises :class:`~anker.limits.ConcurrencyLimitReached` if
        none came free.
        """
        semaphore = self.semaphore(key)
        if not await semaphore.acquire(blocking=wait, timeout=timeout):
            raise ConcurrencyLimitReached(
                f"{self.scope}.{key}", self.limit_of(key), timeout if wait else None
            )
        try:
            yield semaphore
        finally:
            await semaphore.release()

    async def holders(self, key: str) -> int:
        """How many slots of ``key`` are held right now (by any process)."""
        found = await self.coordinator.locks()
        name = f"{self.scope}.{key}"
        return sum(
            1 for info in found if info.kind == "semaphore" and info.name == name and info.held
        )
