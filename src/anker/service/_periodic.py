"""Periodic tasks: on a fixed grid or a cron schedule, never overlapping, optionally on the
leader of a fleet only."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anker.coordination import Coordinator, Election
    from anker.service._metrics import Metrics

__all__ = ["PeriodicTask", "TaskFunction"]

log = logging.getLogger("anker.service")

#: What a periodic task runs: a coroutine function, or a plain function (run in a thread).
TaskFunction = Callable[[], Awaitable[object] | object]


class PeriodicTask:
    """Runs ``function`` every ``interval`` or on a ``cron`` schedule, as a service component.

    - **Fixed grid**: runs are due at ``start + k * interval`` (plus at most ``jitter``
      seconds, drawn afresh for each run), so lateness never accumulates. A run that outlasts
      its interval is logged as a warning; the runs it overlapped are skipped, never run late
      in a burst and never concurrently.
    - **Cron**: ``cron="*/5 * * * *"`` (croniter's syntax, local time; needs
      ``pip install 'anker[service]'``).
    - **Leader only**: with ``leader=coordinator``, the task's instances across a fleet stand
      in the election ``periodic.<name>`` and only the leader runs it; when the leader dies,
      another takes over within the coordinator's lease.
    - ``immediately=True`` runs it once at start, then on the grid.

    A run that raises is logged and counted; the schedule goes on. Drain lets a run in
    progress finish; idle, it ends at once whatever the interval.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        function: TaskFunction,
        *,
        interval: float | dt.timedelta | None = None,
        cron: str | None = None,
        jitter: float | dt.timedelta = 0.0,
        immediately: bool = False,
        leader: Coordinator | None = None,
        name: str | None = None,
    ) -> None:
        if (interval is None) == (cron is None):
            raise ValueError("a periodic task needs an interval or a cron schedule (not both)")
        self.function = function
        self.name = name or getattr(function, "__name__", None) or type(function).__name__
        self.interval = _seconds(interval) if interval is not None else None
        if self.interval is not None and not self.interval > 0:
            raise ValueError(f"periodic task {self.name}: interval must be > 0 s")
        self.jitter = _seconds(jitter)
        if self.jitter < 0:
            raise ValueError(f"periodic task {self.name}: jitter must be >= 0 s")
        self.cron = cron
        self._cron: Any = None
        if cron is not None:
            from anker._drivers import require

            croniter = require("croniter", extra="service", needed_for="cron schedules")
            if not croniter.croniter.is_valid(cron):
                raise ValueError(f"periodic task {self.name}: {cron!r} is not a cron schedule")
            self._cron = croniter.croniter
        self.immediately = immediately
        self.leader = leader
        if leader is not None:  # its election is named after it: refused now, not at start
            from anker.coordination._names import check_name

            check_name("election", f"periodic.{self.name}")
        self.metrics: Metrics | None = None
        #: runs finished, failed, skipped (not the leader) and overran, since start
        self.runs = self.failures = self.skipped = self.overruns = 0
        #: how long the last run took, in seconds
        self.last_duration: float | None = None
        self._election: Election | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._run: asyncio.Task[None] | None = None
        self._run_started = 0.0

    def __repr__(self) -> str:
        schedule = f"every {self.interval:g} s" if self.interval is not None else self.cron
        return f"<PeriodicTask {self.name} {schedule}>"

    # -- component -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the schedule (after winning the election, for a leader-only task)."""
        if self.leader is not None:
            self._election = self.leader.election(f"periodic.{self.name}")
            await self._election.campaign()
        self._scheduler = asyncio.get_running_loop().create_task(
            self._schedule(), name=f"anker-periodic-{self.name}"
        )

    async def drain(self, deadline: float) -> None:
        """Schedule no more runs and let a run in progress finish."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.cancel()  # it never holds a run: waiting for one does not cancel it
            await asyncio.wait({scheduler})  # (a cancelled drain is not swallowed here)
        if self._run is not None and not self._run.done():
            await asyncio.wait({self._run})

    def in_flight(self) -> list[str]:
        """The run in progress, if any, and for how long it has run."""
        if self._run is None or self._run.done():
            return []
        running = time.monotonic() - self._run_started
        return [f"periodic task {self.name} (running for {running:.1f} s)"]

    async def stop(self) -> None:
        """Cancel the schedule and a run still in progress, and give up leadership."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.cancel()
            await asyncio.wait({scheduler})
        run, self._run = self._run, None
        if run is not None and not run.done():
            run.cancel()
            await asyncio.wait({run})
        election, self._election = self._election, None
        if election is not None:
            with contextlib.suppress(Exception):
                await election.resign()

    # -- schedule ------------------------------------------------------------------------

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        origin = loop.time()
        if self.immediately:
            await self._once(loop)
        slot = 1
        last_wall = 0.0
        while True:
            if self.interval is not None:
                due = origin + slot * self.interval
            else:  # strictly after the last run's time: a timer that fires early never repeats it
                now = max(time.time(), last_wall)
                start = dt.datetime.fromtimestamp(now).astimezone()
                last_wall = self._cron(self.cron, start).get_next(float)
                due = loop.time() + max(0.0, last_wall - time.time())
            if self.jitter:
                due += random.uniform(0.0, self.jitter)
            await asyncio.sleep(max(0.0, due - loop.time()))
            await self._once(loop)
            if self.interval is not None:
                # the next slot still ahead: slots a long run overlapped are skipped
                slot = max(slot + 1, int((loop.time() - origin) / self.interval) + 1)

    async def _once(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._election is not None and not self._election.is_leader:
            self.skipped += 1
            if self.metrics is not None:
                self.metrics.periodic_runs.labels(self.name, "skipped").inc()
            return
        self._run_started = time.monotonic()
        self._run = loop.create_task(self._call(), name=f"anker-periodic-run-{self.name}")
        await asyncio.wait({self._run})  # cancelling the scheduler leaves the run running

    async def _call(self) -> None:
        started = time.monotonic()
        outcome = "ok"
        try:
            if inspect.iscoroutinefunction(self.function):
                await self.function()
            else:
                result = await asyncio.to_thread(self.function)
                if inspect.isawaitable(result):
                    await result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception:
            outcome = "failed"
            self.failures += 1
            log.exception("periodic task %s failed", self.name)
        finally:
            elapsed = time.monotonic() - started
            self.last_duration = elapsed
            self.runs += 1
            if self.metrics is not None:
                self.metrics.periodic_runs.labels(self.name, outcome).inc()
                self.metrics.periodic_duration.labels(self.name).observe(elapsed)
            if self.interval is not None and elapsed > self.interval:
                self.overruns += 1
                if self.metrics is not None:
                    self.metrics.periodic_overruns.labels(self.name).inc()
                log.warning(
                    "periodic task %s took %.3f s, longer than its %g s interval: the runs it"
                    " overlapped are skipped",
                    self.name,
                    elapsed,
                    self.interval,
                )


def _seconds(value: float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
