"""The registry: checks by group, run concurrently with timeouts, cached, refreshed in the
background by a task the registry owns."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

from anker._url import mask_urls
from anker.errors import Unavailable
from anker.health._check import Check, ComponentType, Result, Status, check_group
from anker.health._discover import Discovery

if TYPE_CHECKING:
    from types import TracebackType

    from anker._runtime import Portal
    from anker.health._options import HealthOptions

__all__ = ["Health", "Outcome", "Report"]

log = logging.getLogger("anker.health")

DEFAULT_TIMEOUT = 1.0
DEFAULT_INTERVAL = 1.0
#: the most of a maintenance file's first line that is shown as the reason
MAX_REASON = 200


@dataclass(frozen=True, slots=True)
class Outcome:
    """A check's latest result, with when it was taken (UTC)."""

    name: str
    component_type: ComponentType
    result: Result
    time: dt.datetime


@dataclass(frozen=True, slots=True)
class Report:
    """The outcomes of one group's checks and the overall status."""

    group: str
    status: Status
    outcomes: tuple[Outcome, ...]


class Health:
    """Health checks by group, run concurrently, each within a timeout, results cached.

    ::

        health = Health()
        health.add(Check("cache:responseTime", ping_cache, "datastore"))
        async with health:                  # starts the background refresher
            report = await health.run("ready")

    While started (``async with`` or :meth:`start`), a task the registry owns runs every
    check each ``interval`` seconds, so endpoints answer from the cache and a storm of probes
    never reaches a backend; a result older than ``ttl`` (default ``2 * interval +
    timeout``) is run again on demand, at most one run per check at a time however many
    requests wait. A check that takes longer than its timeout is a ``fail``, "timed out
    after N ms".

    ``maintenance_file``: while that file exists, every group but ``live`` fails with a
    ``maintenance`` check whose output is the file's first line (oslo.middleware's
    ``disable_by_file``); ``live`` stays up, so the platform takes the instance out of
    rotation without restarting it.

    ``discover``: every anker part the process has open (coordinators, messaging transports,
    key managers, quota stores, engines made by :mod:`anker.db`) is checked in ``ready``
    without being registered, as ``coordination:responseTime``, ``database:responseTime``
    (``-2``, ``-3`` for a second and third of a kind), from the moment it is opened until it
    is closed (an engine, which has no close, until it is garbage collected). A part that a
    registered check already watches (:meth:`watch`, the ``check_*`` functions) is not
    checked twice. ``discover=False`` checks only what is registered.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        interval: float = DEFAULT_INTERVAL,
        ttl: float | None = None,
        maintenance_file: str | Path | None = None,
        discover: bool = True,
    ) -> None:
        for name, value in (("timeout", timeout), ("interval", interval), ("ttl", ttl)):
            if value is not None and not value > 0:
                raise ValueError(f"Health: {name} must be > 0 seconds, not {value}")
        self.timeout = timeout
        self.interval = interval
        self.ttl = ttl if ttl is not None else 2 * interval + timeout
        self.maintenance_file = Path(maintenance_file) if maintenance_file else None
        self._checks: dict[str, Check] = {}
        self.discover = discover
        self._discovery = Discovery()
        #: the checks of discovered parts, by name (none of them named as in _checks)
        self._found: dict[str, Check] = {}
        self._groups: dict[str | None, tuple[Check, ...]] = {}
        self._names: frozenset[str] | None = None
        self._cache: dict[str, tuple[float, Outcome]] = {}
        self._running: dict[str, asyncio.Task[Outcome]] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._pid = os.getpid()
        self._starting = threading.Lock()
        #: the loop the registry was started on; blocking callers (WSGI) hand work to it
        self.loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_options(cls, options: HealthOptions) -> Health:
        """A registry with the ``[health]`` options' timeout, interval and maintenance file."""
        return cls(
            timeout=options.check_timeout.total_seconds(),
            interval=options.interval.total_seconds(),
            maintenance_file=options.maintenance_file,
        )

    # ------------------------------------------------------------------ registering
    def add(self, check: Check) -> Check:
        """Register ``check``; a second check with the same name is an error."""
        if check.name in self._checks:
            raise ValueError(f"a health check named {check.name!r} is already registered")
        self._checks[check.name] = check
        self._changed()
        return check

    def watch(self, *parts: object, groups: Iterable[str] = ("ready",)) -> list[Check]:
        """Register the built-in check of each of anker's parts (coordinators, transports,
        key managers, SQL engines, drivers: see :func:`~anker.health.check_for`) in
        ``groups``; two parts of one kind need names, given through their ``check_*``
        function instead."""
        from anker.health._builtin import check_for

        made = [check_for(part, groups=groups) for part in parts]
        names = [check.name for check in made]
        for name in names:
            if names.count(name) > 1 or name in self._checks:
                raise ValueError(
                    f"two health checks would be named {name!r}: name them with their check_*"
                    " function (check_coordinator(c, 'locks'), ...)"
                )
        for check in made:
            self.add(check)
        return made

    def remove(self, name: str) -> None:
        """Forget the check ``name`` (and its cached result)."""
        self._checks.pop(name, None)
        self._cache.pop(name, None)
        self._changed()

    def _changed(self) -> None:
        self._groups.clear()
        self._names = None
        self._discovery.invalidate()  # a check may now watch a discovered part, or free a name

    def _look(self) -> None:
        """Follow the parts opened and closed since the last look (one integer compared on
        the usual request)."""
        if not self.discover or not self._discovery.stale():
            return
        watched = {id(c.subject) for c in self._checks.values() if c.subject is not None}
        found = self._discovery.refresh(watched, self._checks)
        for name in self._found.keys() - found.keys():
            self._cache.pop(name, None)
        self._found = found
        self._groups.clear()
        self._names = None

    def _known(self, name: str) -> Check | None:
        return self._checks.get(name) or self._found.get(name)

    def checks(self, group: str | None = None) -> list[Check]:
        """The checks of ``group`` (every check for None), by name."""
        return list(self._group(group))

    def _group(self, group: str | None) -> tuple[Check, ...]:
        # kept per group: endpoints ask on every request
        self._look()
        found = self._groups.get(group)
        if found is None:
            every = [*self._checks.values(), *self._found.values()]
            found = self._groups[group] = tuple(
                sorted(
                    (c for c in every if group is None or group in c.groups),
                    key=lambda c: c.name,
                )
            )
        return found

    def groups(self) -> frozenset[str]:
        """Every group some check belongs to, with ``live``, ``ready`` and ``startup``."""
        self._look()
        if self._names is None:
            found = {"live", "ready", "startup"}
            for check in [*self._checks.values(), *self._found.values()]:
                found |= check.groups
            self._names = frozenset(found)
        return self._names

    # ------------------------------------------------------------------ running
    async def run(self, group: str | None = None, *, exclude: Iterable[str] = ()) -> Report:
        """The report of ``group`` (``None``: every check), without the checks in ``exclude``.

        Cached results younger than ``ttl`` are used as they are; the others run now,
        concurrently, each within its timeout.
        """
        if group is not None and group not in self.groups():
            check_group(group)
        excluded = set(exclude)
        now = time.monotonic()
        outcomes: list[Outcome | None] = []
        stale: list[tuple[int, Check]] = []
        for check in self._group(group):
            if check.name in excluded:
                continue
            cached = self._cache.get(check.name)
            if cached is not None and now - cached[0] <= self.ttl:
                outcomes.append(cached[1])  # the usual case: no task, no await
            else:
                stale.append((len(outcomes), check))
                outcomes.append(None)
        if stale:
            # shielded: a request that gives up does not cancel the run others wait for
            ran = await asyncio.gather(*(asyncio.shield(self._start(c)) for _, c in stale))
            for (index, _), outcome in zip(stale, ran, strict=True):
                outcomes[index] = outcome
        return self._report(group, excluded, [o for o in outcomes if o is not None])

    def cached(self, group: str | None = None, *, exclude: Iterable[str] = ()) -> Report | None:
        """The report of ``group`` from the cache alone, if every result in it is fresh (None
        otherwise): what a thread can read without waiting for the event loop. Results are
        immutable and swapped whole, so reading them from another thread is safe."""
        if group is not None and group not in self.groups():
            check_group(group)
        excluded = set(exclude)
        now = time.monotonic()
        outcomes = []
        for check in self._group(group):
            if check.name in excluded:
                continue
            cached = self._cache.get(check.name)
            if cached is None or now - cached[0] > self.ttl:
                return None
            outcomes.append(cached[1])
        return self._report(group, excluded, outcomes)

    def statuses(self) -> dict[str, Status]:
        """The last known status of each check that has run (fresh or not): for metrics."""
        return {name: outcome.result.status for name, (_, outcome) in self._cache.items()}

    def _report(self, group: str | None, excluded: set[str], outcomes: list[Outcome]) -> Report:
        if group != "live" and "maintenance" not in excluded:
            reason = self._maintenance()
            if reason is not None:
                now = dt.datetime.now(dt.UTC)
                result = Result.failed(reason)
                outcomes.insert(0, Outcome("maintenance", "system", result, now))
        status = Status.worst(o.result.status for o in outcomes)
        return Report(group or "all", status, tuple(outcomes))

    def _start(self, check: Check) -> asyncio.Task[Outcome]:
        task = self._running.get(check.name)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._execute(check))
            self._running[check.name] = task
            task.add_done_callback(lambda _: self._running.pop(check.name, None))
        return task

    async def _execute(self, check: Check) -> Outcome:
        timeout = check.timeout or self.timeout
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                returned: object = await check.function()
            result = _as_result(returned)
        except TimeoutError:
            result = Result.failed(f"timed out after {round(timeout * 1000)} ms")
        except Unavailable as exc:
            result = Result.failed(f"{exc.what} unavailable", detail=mask_urls(str(exc)))
        except Exception as exc:
            # never the message: it may hold a host, a URL or worse
            result = Result.failed("the check raised an error", detail=_describe(exc))
        outcome = Outcome(check.name, check.component_type, result, dt.datetime.now(dt.UTC))
        if self._known(check.name) is check:
            previous = self._cache.get(check.name)
            self._cache[check.name] = (started, outcome)
            _log_change(previous[1] if previous else None, outcome)
        return outcome

    def _maintenance(self) -> str | None:
        path = self.maintenance_file
        if path is None or not path.exists():
            return None
        try:
            text = path.read_text(errors="replace").strip().splitlines()
        except OSError:
            text = []
        reason = text[0][:MAX_REASON] if text else ""
        return f"maintenance: {reason}" if reason else "maintenance"

    async def refresh(self) -> None:
        """Run every check now (those already running are awaited, not run twice)."""
        await asyncio.gather(*(self._start(c) for c in self.checks()))

    # ------------------------------------------------------------------ the refresher
    async def start(self) -> None:
        """Run every check once and start refreshing them every ``interval`` seconds."""
        if self._refresher is not None and self._pid == os.getpid():
            return
        # (in a forked child, the parent's loop and refresher are gone: start afresh here)
        self._refresher, self._running, self._pid = None, {}, os.getpid()
        self.loop = asyncio.get_running_loop()
        await self.refresh()
        self._refresher = self.loop.create_task(self._refresh_forever(), name="anker-health")

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.refresh()
            except Exception:  # a bug in a check's bookkeeping must not stop the others
                log.exception("refreshing health checks failed")

    async def aclose(self) -> None:
        """Stop the refresher and wait for the checks that are running."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        running = list(self._running.values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    def start_blocking(self) -> None:
        """:meth:`start` on anker's background event loop, for threaded services (WSGI)."""
        from anker._runtime import run_blocking

        run_blocking(self.start())

    def portal(self) -> Portal:
        """The way into the loop the registry runs on, for threads (the WSGI middleware).

        Starts the registry on anker's background loop if it is not started in this process
        (a pre-fork server's worker after ``fork``, or a service that never started it).
        """
        from anker._runtime import Portal

        with self._starting:
            loop = self.loop
            if loop is None or self._pid != os.getpid() or not loop.is_running():
                self.start_blocking()
            assert self.loop is not None
            return Portal(self.loop)

    def close_blocking(self) -> None:
        """:meth:`aclose` on the loop :meth:`start_blocking` started the registry on."""
        from anker._runtime import Portal

        if self.loop is not None and self.loop.is_running():
            Portal(self.loop).run(self.aclose())

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        checks = len(self._checks) + len(self._found)
        return f"<Health {checks} checks, every {self.interval:g} s>"


def _as_result(returned: object) -> Result:
    if returned is None:
        return Result(Status.PASS)
    if isinstance(returned, Result):
        return returned
    return Result.failed("the check returned no Result")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return mask_urls(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _log_change(previous: Outcome | None, outcome: Outcome) -> None:
    """One log line when a check changes status (not on every refresh). A first result that
    does not pass is logged at INFO, as a start, not a change: a service's own state check
    fails until it has started, and it never passed before."""
    after = outcome.result.status
    if previous is None:
        if after is not Status.PASS:
            log.info(
                "health check %s: %s %s (first result)", outcome.name, after, outcome.result.output
            )
        return
    before = previous.result.status
    if after == before:
        return
    level = logging.INFO if after is Status.PASS else logging.WARNING
    # the safe output only: operators who want the error set show_errors and read it there
    log.log(
        level, "health check %s: %s -> %s %s", outcome.name, before, after, outcome.result.output
    )
