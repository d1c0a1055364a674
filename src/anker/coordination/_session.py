"""The coordinator's session: created once, renewed in the background, replaced when lost.

Everything a coordinator holds (lock entries, group memberships, election candidacies) belongs
to its one session, so one renewal keeps all of it alive. The keeper measures the lease on the
local monotonic clock from the moment each renewal was *sent*: the server's lease runs at least
that long, so when the keeper says "lost" the server may still hold the lease a little longer,
never the other way round. Loss is declared as soon as the backend says the session expired, or
when ``lease`` seconds pass without a successful renewal, whichever comes first; every holder is
told at once, and the keeper starts a new session for what comes next (ending the old one
first, if the server still has it, so nothing of it lingers).

The renewal loop does nothing but renew: re-joining groups on a new session and retrying
failed deletes run in tasks of their own, so a slow backend cannot make the loop miss a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from anker._drivers import Backoff
from anker.coordination._backend import SessionExpired
from anker.coordination._errors import BackendUnavailable, CoordinationError

if TYPE_CHECKING:
    from anker.coordination._backend import Backend

__all__ = ["SessionKeeper"]

log = logging.getLogger("anker.coordination")

#: renew this many times per lease
RENEWALS_PER_LEASE = 3


class SessionKeeper:
    """Owns one session on a backend and the task that keeps it alive."""

    def __init__(
        self,
        backend: Backend,
        call: Callable[[str, Awaitable[Any]], Awaitable[Any]],
        spawn: Callable[[Awaitable[Any]], object],
        lease: float,
    ) -> None:
        self.backend = backend
        self._call = call
        self._spawn = spawn
        self.lease = lease
        self.session: str | None = None
        #: sessions this keeper had before the current one
        self.past: set[str] = set()
        #: monotonic time until which the current session is known to be alive
        self.valid_until = 0.0
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cleaning = False
        self._closing = False
        #: called with (session, reason) when a session is lost
        self.on_lost: list[Callable[[str, str], None]] = []
        #: run as tasks with the new session after a lost one was replaced
        self.on_new: list[Callable[[str], Awaitable[None]]] = []
        #: (namespace, key) of entries whose delete failed; retried in the background
        self.orphans: set[tuple[str, str]] = set()

    async def start(self) -> None:
        await self._new_session()
        self._task = asyncio.create_task(self._keep_alive(), name="anker-coordination-session")

    async def current(self, deadline: float | None = None) -> str:
        """The live session, waiting for a replacement if the last one was just lost.

        Raises :class:`BackendUnavailable` if there is none by ``deadline`` (monotonic).
        """
        while not self._ready.is_set():
            if self._closing:
                raise CoordinationError("the coordinator is closed")
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise BackendUnavailable(
                    str(self.backend.url), "start a session", "no live session in time"
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._ready.wait()
        if self._closing:
            raise CoordinationError("the coordinator is closed")
        assert self.session is not None
        return self.session

    def alive(self, session: str) -> bool:
        return session == self.session and time.monotonic() < self.valid_until

    def expired(self, session: str) -> None:
        """A call was told ``session`` expired: lose it now rather than at the next renewal
        (so that callers waiting in :meth:`current` get a new one, instead of spinning)."""
        if session == self.session:
            self._lose("the backend reports the session expired")

    async def close(self) -> None:
        self._closing = True
        live = self._ready.is_set()
        self._ready.set()  # wakes waiters in current(), which then see _closing
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        session, self.session = self.session, None
        self.valid_until = 0.0
        if session is not None and live:
            await self._call("end session", self.backend.end_session(session))

    async def _new_session(self) -> None:
        sent = time.monotonic()
        session = await self._call("create session", self.backend.create_session())
        assert isinstance(session, str)
        self.session = session
        self.valid_until = sent + self.lease
        self._ready.set()

    def _lose(self, reason: str) -> None:
        session = self.session
        if session is None or not self._ready.is_set() or self._closing:
            return
        self._ready.clear()
        self.valid_until = 0.0
        self.past.add(session)
        log.warning("coordination session %s lost: %s", session, reason)
        for listener in list(self.on_lost):
            try:
                listener(session, reason)
            except Exception:
                log.exception("a session-lost listener failed")

    async def _keep_alive(self) -> None:
        interval = self.lease / RENEWALS_PER_LEASE
        next_renewal = time.monotonic() + interval
        retry = Backoff(first=0.1, cap=interval)
        while True:
            await asyncio.sleep(max(0.0, next_renewal - time.monotonic()))
            if not self._ready.is_set():
                await self._replace()
                next_renewal = time.monotonic() + interval
                continue
            if self.orphans and not self._cleaning:
                self._cleaning = True
                self._spawn(self._clean_orphans())
            sent = time.monotonic()
            assert self.session is not None
            try:
                # A renewal that answers after the lease ran out is worthless: give up then.
                async with asyncio.timeout(max(0.0, self.valid_until - sent)):
                    await self._call("renew session", self.backend.renew_session(self.session))
            except SessionExpired:
                self._lose("the backend reports the session expired")
                continue
            except (CoordinationError, TimeoutError) as exc:
                if time.monotonic() >= self.valid_until:
                    self._lose(f"no renewal within the {self.lease:g} s lease ({exc})")
                    continue
                # try again soon, but not in a tight loop against a failing backend
                next_renewal = time.monotonic() + retry.next_delay()
                continue
            retry.reset()
            self.valid_until = sent + self.lease
            next_renewal = sent + interval

    async def _replace(self) -> None:
        backoff = Backoff(first=0.05, cap=self.lease)
        while True:
            # End the lost session first: the server may still hold it (the client gave up
            # first, by design), and its entries would stand in the way of the new ones.
            old = [session for session in self.past if session != self.session]
            try:
                for session in old:
                    await self._call("end session", self.backend.end_session(session))
                    self.past.discard(session)
                await self._new_session()
            except CoordinationError as exc:
                log.warning("could not start a new coordination session: %s", exc)
                await backoff.sleep()
                continue
            break
        assert self.session is not None
        for listener in list(self.on_new):
            self._spawn(listener(self.session))

    async def _clean_orphans(self) -> None:
        try:
            for namespace, key in list(self.orphans):
                try:
                    await self._call("delete", self.backend.delete(namespace, key))
                except CoordinationError:
                    return
                self.orphans.discard((namespace, key))
        finally:
            self._cleaning = False
