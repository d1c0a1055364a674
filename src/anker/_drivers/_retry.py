"""One backoff for every reconnect, retry and poll loop: exponential, full jitter, capped."""

from __future__ import annotations

import asyncio
import random
import time

__all__ = ["Backoff"]


class Backoff:
    """Delays between attempts: the n-th is drawn uniformly from ``[0, min(cap, first * 2**n)]``
    ("full jitter"), so clients that failed together do not retry together.

    ``deadline`` (seconds from creation or :meth:`reset`) bounds the whole series: no delay
    runs past it, :attr:`expired` says when it has passed, and :meth:`sleep` returns False
    then instead of sleeping::

        backoff = Backoff(first=0.05, cap=2.0, deadline=30.0)
        while True:
            try:
                return await connect()
            except OSError:
                if not await backoff.sleep():
                    raise
    """

    __slots__ = ("_attempt", "_ends", "cap", "deadline", "first")

    def __init__(
        self, first: float = 0.05, cap: float = 2.0, deadline: float | None = None
    ) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff needs 0 < first <= cap, got first={first}, cap={cap}")
        self.first = first
        self.cap = cap
        self.deadline = deadline
        self._attempt = 0
        self._ends: float | None = None
        self.reset()

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last reset."""
        return self._attempt

    def reset(self) -> None:
        """Start again from the first delay (after a success), with a fresh deadline."""
        self._attempt = 0
        self._ends = None if self.deadline is None else time.monotonic() + self.deadline

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed (never, without one)."""
        return self._ends is not None and time.monotonic() >= self._ends

    def next_delay(self) -> float:
        """The next delay in seconds (never past the deadline: 0 once it has passed)."""
        ceiling = min(self.cap, self.first * 2.0 ** min(self._attempt, 64))
        self._attempt += 1
        delay = random.uniform(0.0, ceiling)
        if self._ends is None:
            return delay
        return max(0.0, min(delay, self._ends - time.monotonic()))

    async def sleep(self) -> bool:
        """Sleep the next delay; False (without sleeping) once the deadline has passed."""
        if self.expired:
            return False
        await asyncio.sleep(self.next_delay())
        return True
