"""Leader election: the candidate at the head of the queue leads until its lease ends.

Candidates queue as entries of ``election/<name>`` exactly as lock waiters do, so the first to
arrive leads, the next takes over as soon as the leader resigns or its lease runs out, and the
leader's fencing token tells its writes apart from a deposed leader's.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from anker.coordination._errors import CoordinationError, LockLost
from anker.coordination._lock import _QueuedLock, decode
from anker.coordination._waits import wait_limit

if TYPE_CHECKING:
    from anker.coordination._coordinator import Coordinator

__all__ = ["Election"]

log = logging.getLogger("anker.coordination")


class _Candidacy(_QueuedLock):
    kind = "election"


class Election:
    """One election on a coordinator; made by :meth:`Coordinator.election`.

    ::

        election = coordinator.election("scheduler")
        await election.campaign(on_elected=start_scheduling, on_lost=stop_scheduling)

    .. versionadded:: 0.1
    """

    def __init__(self, coordinator: Coordinator, name: str) -> None:
        self.coordinator = coordinator
        self.name = name
        self._candidacy = _Candidacy(coordinator, name)
        self._task: asyncio.Task[None] | None = None
        self._elected = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Election {self.name!r} leader={self.is_leader}>"

    @property
    def is_leader(self) -> bool:
        """Whether this member leads now, with a live lease."""
        return self._elected.is_set() and self._candidacy.held

    @property
    def token(self) -> int:
        """The fencing token of this leadership; raises LockLost once it is over."""
        return self._candidacy.token

    async def campaign(
        self,
        *,
        on_elected: Callable[[], object] | None = None,
        on_lost: Callable[[LockLost | None], object] | None = None,
    ) -> None:
        """Stand for election in the background, until :meth:`resign` or the coordinator closes.

        ``on_elected()`` runs as a task of its own on becoming leader (it may run the leader's
        job for as long as it likes), and is cancelled when leadership ends. ``on_lost(error)``
        is called at once when leadership ends: with the LockLost if the lease ran out (the
        candidate then queues again), or None on :meth:`resign`. Both may be plain or async.
        """
        if self._task is not None and not self._task.done():
            raise CoordinationError(f"already campaigning in election {self.name!r}")
        self._task = self.coordinator._spawn(self._run(on_elected, on_lost))

    async def _run(
        self,
        on_elected: Callable[[], object] | None,
        on_lost: Callable[[LockLost | None], object] | None,
    ) -> None:
        retry = 0.05
        while True:
            self._candidacy = candidacy = _Candidacy(self.coordinator, self.name)
            try:
                await candidacy.acquire()
            except CoordinationError as exc:
                log.warning("election %r: campaigning failed (%s); retrying", self.name, exc)
                await asyncio.sleep(retry)
                retry = min(retry * 2, self.coordinator.lease)
                continue
            retry = 0.05
            self._elected.set()
            job = self.coordinator._spawn(_call(on_elected))
            try:
                lost = await candidacy.wait_lost()
            except asyncio.CancelledError:  # resign() or the coordinator closes
                self._elected.clear()
                job.cancel()
                await _call(on_lost, None)
                raise
            self._elected.clear()
            job.cancel()
            await _call(on_lost, lost)
            # its entry is being deleted already (see _QueuedLock._mark_lost)
            self.coordinator._spawn(_quietly(candidacy.release()))

    async def wait_elected(self, timeout: float | None = None) -> bool:
        """Wait until this member leads; False if ``timeout`` passed first (None or -1: wait
        for ever)."""
        limit = wait_limit(timeout)
        try:
            async with asyncio.timeout(limit):
                await self._elected.wait()
        except TimeoutError:
            return False
        return True

    async def resign(self) -> None:
        """Stop campaigning and give up leadership (a waiting candidate takes over)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._candidacy._key is not None:
            await self._candidacy.release()

    async def leader(self) -> str | None:
        """The member id of the current leader, or None when nobody leads."""
        coordinator = self.coordinator
        entries = await coordinator._call(
            "read election", coordinator._backend.entries(self._candidacy.namespace)
        )
        if not entries:
            return None
        member = decode(entries[0]).get("member")
        return str(member) if member is not None else None


async def _quietly(awaitable: Awaitable[None]) -> None:
    with contextlib.suppress(CoordinationError):
        await awaitable


async def _call(callback: Callable[..., object] | None, *args: object) -> None:
    if callback is None:
        return
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("an election callback failed")
