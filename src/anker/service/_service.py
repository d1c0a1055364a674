"""The service: components started in dependency order, signals, reload, drain, exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from anker._observe import listen
from anker.service._component import Component, as_component
from anker.service._notify import notify
from anker.service._periodic import PeriodicTask, TaskFunction

if TYPE_CHECKING:
    from anker.config import Config, ReloadResult
    from anker.coordination import Coordinator
    from anker.health import Health
    from anker.service._metrics import Metrics
    from anker.service._options import ServiceOptions

__all__ = ["ExitCode", "Service", "State", "run"]

log = logging.getLogger("anker.service")

#: How long each component may take to stop (release, close) once drained or abandoned.
STOP_TIMEOUT = 5.0
#: How long after the drain deadline a process whose event loop is blocked (a component
#: calling blocking code on it) is ended anyway, by a thread.
WATCHDOG_GRACE = 10.0


class State(enum.StrEnum):
    """Where a service is in its life: ``new`` -> ``starting`` -> ``running`` ->
    ``draining`` -> ``stopped``.

    .. versionadded:: 0.1
    """

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


class ExitCode(enum.IntEnum):
    """What :meth:`Service.serve` returns, and ``anker run`` exits with.

    - ``OK`` (0): stopped by a signal, every piece of in-flight work finished.
    - ``FAILED`` (1): a component failed to start (the others were stopped).
    - ``USAGE`` (2): ``anker run`` could not load the service (a bad target).
    - ``DEADLINE`` (3): the drain deadline passed; the work still running was abandoned (and
      logged).
    - ``FORCED`` (4): a second SIGTERM/SIGINT during the drain; in-flight work abandoned.

    .. versionadded:: 0.1
    """

    OK = 0
    FAILED = 1
    USAGE = 2
    DEADLINE = 3
    FORCED = 4


class _Entry:
    __slots__ = ("after", "component")

    def __init__(self, component: Component, after: tuple[str, ...]) -> None:
        self.component = component
        self.after = after


class Service:
    """A service made of components, run until a signal says stop::

        service = Service("scheduler", config=conf, health=health)
        service.add(rpc_server)                       # RPC servers, listeners, ASGI apps...
        service.add(HealthServer(health, port=8081))

        @service.periodic(interval=60)
        async def clean_up() -> None: ...

        exit_code = await service.serve()             # or anker.service.run(service)

    Components start in the order they were added, except that one waits for those it names
    in ``after=``; they are drained and stopped in reverse. The ``health`` registry, if
    given, is the first component (its background refresh starts first and stops last).
    The service is ready (``/readyz`` passes, systemd gets ``READY=1``) once every component
    has started, and not ready from the start of a drain (``STOPPING=1``).

    Signals (while :meth:`serve` runs): SIGHUP reloads the configuration (mutable options
    change in place, hooks run, immutable changes are logged and not applied; work carries
    on); SIGTERM or SIGINT drains (no new work, in-flight work finishes, within
    ``drain_deadline`` seconds, or the ``[service] drain_deadline`` option of ``config``), then
    stops every component; a second one, or the deadline, abandons what is still running and
    logs what it was. See :class:`ExitCode`.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        name: str = "service",
        *,
        config: Config | None = None,
        health: Health | None = None,
        drain_deadline: float | dt.timedelta | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.health = health
        self._drain_deadline = drain_deadline
        self._entries: list[_Entry] = []
        self._started: list[Component] = []
        self._state = State.NEW
        self._metrics: Metrics | None = None
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._signals: list[int] = []
        self._background: set[asyncio.Task[Any]] = set()
        #: a component stopped working on its own: the service stops, as failed
        self._failed = False
        self._health_check: Any = None
        self._unlisten: Callable[[], None] | None = None
        if health is not None:
            self._watch_health(health)
            self.add(health)  # started first, stopped last: /readyz answers through a drain

    def __repr__(self) -> str:
        return f"<Service {self.name} {self._state}>"

    # -- composition ---------------------------------------------------------------------

    def add(self, component: object, *, after: Iterable[str] = ()) -> Component:
        """Add a component (or one of anker's parts, adapted: RPC servers, notification
        listeners, coordinators, health registries and endpoints); it starts after the ones
        named in ``after``, else in the order added. Returns the component.
        """
        if self._state is not State.NEW:
            raise RuntimeError(f"{self}: components are added before it starts")
        for entry in self._entries:  # the health registry is added by Service(health=...)
            if component is self.health and getattr(entry.component, "part", None) is component:
                return entry.component
        made = as_component(component)
        if any(entry.component.name == made.name for entry in self._entries):
            raise ValueError(f"{self}: a component named {made.name!r} is there already")
        if self._metrics is not None:
            _measure(made, self._metrics)
        self._entries.append(_Entry(made, tuple(after)))
        return made

    def periodic(
        self,
        interval: float | dt.timedelta | None = None,
        *,
        cron: str | None = None,
        jitter: float | dt.timedelta = 0.0,
        immediately: bool = False,
        leader: Coordinator | None = None,
        name: str | None = None,
    ) -> Callable[[TaskFunction], PeriodicTask]:
        """Decorator: run the function as a :class:`~anker.service.PeriodicTask` of this
        service (same arguments); the name it binds is the task."""

        def decorate(function: TaskFunction) -> PeriodicTask:
            task = PeriodicTask(
                function,
                interval=interval,
                cron=cron,
                jitter=jitter,
                immediately=immediately,
                leader=leader,
                name=name or getattr(function, "__name__", None),
            )
            self.add(task)
            return task

        return decorate

    @property
    def components(self) -> list[Component]:
        """Every component, in start order."""
        return self._ordered()

    @property
    def state(self) -> State:
        """Where the service is in its life."""
        return self._state

    @property
    def metrics(self) -> Metrics:
        """The service's Prometheus metrics (made on first use; needs ``anker[service]``)."""
        if self._metrics is None:
            from anker.service._metrics import Metrics

            self._metrics = Metrics()
            self._metrics.set_state(self._state)
            for entry in self._entries:
                _measure(entry.component, self._metrics)
            self._metrics.watch(lambda: [entry.component for entry in self._entries], self.health)
            # lock waits, quota claims, workflow runs: reported by the parts themselves
            self._unlisten = listen(self._metrics.record)
        return self._metrics

    @property
    def options(self) -> ServiceOptions | None:
        """The ``[service]`` options of ``config`` as they are now (after any reload)."""
        if self.config is None:
            return None
        from anker.service._options import ServiceOptions

        for value in vars(self.config).values():
            if isinstance(value, ServiceOptions):
                return value
        return None

    @property
    def drain_deadline(self) -> float:
        """Seconds a drain may take: the given value, else ``[service] drain_deadline``,
        else 30."""
        value = self._drain_deadline
        if value is None:
            options = self.options
            value = options.drain_deadline if options is not None else 30.0
        return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start every component in dependency order; if one fails, stop those started (in
        reverse) and raise its error."""
        if self._state is not State.NEW:
            raise RuntimeError(f"{self} was started already")
        self._set_state(State.STARTING)
        options = self.options
        if options is not None:
            _apply_log_level(options.log_level)
        for component in self._ordered():
            log.debug("%s: starting %s", self.name, component.name)
            try:
                await component.start()
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):  # a stop signal came: no failure
                    log.info("%s: start of %s interrupted", self.name, component.name)
                else:
                    log.error("%s: component %s failed to start", self.name, component.name)
                self._set_state(State.DRAINING)
                await self._stop_all()
                raise
            self._started.append(component)
        self._set_state(State.RUNNING)
        for component in self._started:
            ended = getattr(component, "ended", None)
            if callable(ended):
                self._spawn(self._watch_end(component, ended))
        await self._refresh_health()
        notify("READY=1")
        log.info(
            "%s: ready (%d components: %s)",
            self.name,
            len(self._started),
            ", ".join(c.name for c in self._started),
        )

    async def stop(self, deadline: float | None = None) -> ExitCode:
        """Drain every component (in reverse start order) within ``deadline`` seconds (default
        :attr:`drain_deadline`), then stop them; the exit code says whether work was
        abandoned."""
        if self._state in (State.DRAINING, State.STOPPED):
            return ExitCode.OK
        limit = self.drain_deadline if deadline is None else deadline
        self._set_state(State.DRAINING)
        notify("STOPPING=1")
        await self._refresh_health()
        loop = asyncio.get_running_loop()
        ends = loop.time() + limit
        log.info("%s: draining (deadline %g s)", self.name, limit)
        abandoned: list[str] = []
        forced = False
        force = loop.create_task(self._force.wait())
        try:
            for component in reversed(self._started):
                if forced or loop.time() >= ends:
                    abandoned += component.in_flight()
                    continue
                drain = loop.create_task(component.drain(max(0.0, ends - loop.time())))
                await asyncio.wait(
                    {drain, force}, timeout=ends - loop.time(), return_when=asyncio.FIRST_COMPLETED
                )
                forced = force.done()
                if not drain.done():
                    abandoned += component.in_flight() or [f"the drain of {component.name}"]
                    drain.cancel()
                    await asyncio.wait({drain}, timeout=STOP_TIMEOUT)
                if drain.done() and not drain.cancelled() and drain.exception() is not None:
                    log.error(
                        "%s: draining %s failed: %r", self.name, component.name, drain.exception()
                    )
        finally:
            force.cancel()
        await self._stop_all()
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if abandoned:
            why = "a second signal" if forced else f"the {limit:g} s drain deadline"
            log.error("%s: stopped by %s; abandoned: %s", self.name, why, "; ".join(abandoned))
            return ExitCode.FORCED if forced else ExitCode.DEADLINE
        if forced:
            return ExitCode.FORCED
        log.info("%s: stopped; all in-flight work finished", self.name)
        return ExitCode.OK

    async def serve(self) -> ExitCode:
        """Start, run until SIGTERM or SIGINT (SIGHUP reloads), drain and stop; the exit code
        (:class:`ExitCode`). Installs the signal handlers on the running loop for its
        duration (main thread only)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, self._on_signal, signum)
            self._signals.append(int(signum))
        try:
            starting = loop.create_task(self.start())
            stopping = loop.create_task(self._stop.wait())
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():  # a signal during start: stop what has started
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await starting
                stopping.cancel()
                return ExitCode.OK if starting.cancelled() else ExitCode.FAILED
            if starting.exception() is not None:
                stopping.cancel()
                log.error("%s: could not start: %r", self.name, starting.exception())
                return ExitCode.FAILED
            await stopping
            watchdog = _Watchdog(self.name, self.drain_deadline + WATCHDOG_GRACE)
            try:
                code = await self.stop()
            finally:
                watchdog.cancel()
            return ExitCode.FAILED if self._failed and code is ExitCode.OK else code
        finally:
            for installed in self._signals:
                loop.remove_signal_handler(installed)
            self._signals.clear()
            for task in list(self._background):
                task.cancel()

    async def _watch_end(self, component: Component, ended: Any) -> None:
        """Stop the service, as failed, if ``component`` stops working on its own."""
        reason = await ended()
        if self._state is not State.RUNNING:
            return  # asked to: a drain or a stop
        self._failed = True
        log.error(
            "%s: component %s stopped working (%s); stopping", self.name, component.name, reason
        )
        self.request_stop()

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def request_stop(self) -> None:
        """Start a graceful stop, as SIGTERM does (a second call forces it, as a second
        signal does)."""
        if self._stop.is_set():
            self._force.set()
        self._stop.set()

    async def reload(self) -> ReloadResult | None:
        """Reload the configuration (what SIGHUP does): mutable options change in place and
        ``on_change`` hooks run; changed immutable options are logged, not applied; a
        configuration with errors is refused whole. None if there is no configuration or it
        was refused."""
        from anker.config import ConfigError

        if self.config is None:
            log.warning("%s: reload requested, but the service has no configuration", self.name)
            return None
        notify("RELOADING=1")
        try:
            result = self.config.reload()  # on the loop: hooks may touch the loop's objects
        except ConfigError as exc:
            log.error("%s: reload refused, the configuration is unchanged: %s", self.name, exc)
            self._count_reload("refused")
            return None
        finally:
            notify("READY=1")
        options = self.options
        if options is not None:
            _apply_log_level(options.log_level)
        self._count_reload("applied")
        changed = ", ".join(f"[{c.section}] {c.option}" for c in result.changed) or "nothing"
        log.info("%s: configuration reloaded; changed: %s", self.name, changed)
        if result.restart_required:
            names = ", ".join(f"[{c.section}] {c.option}" for c in result.restart_required)
            log.warning("%s: not applied until a restart: %s", self.name, names)
        return result

    # -- internals -----------------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP:
            log.info("%s: %s received: reloading the configuration", self.name, name)
            task = asyncio.get_running_loop().create_task(self.reload())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        if self._stop.is_set():
            log.warning("%s: second %s: abandoning in-flight work", self.name, name)
            self._force.set()
            return
        log.info("%s: %s received: stopping gracefully", self.name, name)
        self._stop.set()

    def _ordered(self) -> list[Component]:
        names = {entry.component.name for entry in self._entries}
        placed: list[Component] = []
        done: set[str] = set()
        pending = list(self._entries)
        for entry in pending:
            for dependency in entry.after:
                if dependency not in names:
                    raise ValueError(
                        f"{self}: {entry.component.name} starts after {dependency!r}, which is"
                        " not a component of it"
                    )
        while pending:
            for index, entry in enumerate(pending):
                if all(d in done for d in entry.after):  # the first added that may start
                    placed.append(entry.component)
                    done.add(entry.component.name)
                    del pending[index]
                    break
            else:
                cycle = ", ".join(e.component.name for e in pending)
                raise ValueError(f"{self}: components depend on each other in a cycle: {cycle}")
        return placed

    async def _stop_all(self) -> None:
        for component in reversed(self._started):
            try:
                await asyncio.wait_for(component.stop(), STOP_TIMEOUT)
            except Exception as exc:
                log.error("%s: stopping %s failed: %r", self.name, component.name, exc)
        self._started.clear()
        self._set_state(State.STOPPED)

    def _set_state(self, state: State) -> None:
        self._state = state
        if self._metrics is not None:
            self._metrics.set_state(state)

    def _count_reload(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.reloads.labels(outcome).inc()

    def _watch_health(self, health: Health) -> None:
        from anker.health import Check, Result

        async def lifecycle() -> Result:
            if self._state is State.RUNNING:
                return Result.passed(str(self._state))
            return Result.failed(f"service {self._state}", str(self._state))

        self._health_check = health.add(
            Check("service:state", lifecycle, "component", frozenset({"ready", "startup"}))
        )

    async def _refresh_health(self) -> None:
        """Refresh the service's own check now, so the endpoints' cache follows at once."""
        if self.health is not None and self.health.loop is not None:
            await self.health._start(self._health_check)


class _Watchdog:
    """Ends the process if a stop outlasts its deadline by far: the event loop that would
    enforce the deadline is blocked (a signal cannot reach it either)."""

    def __init__(self, name: str, seconds: float) -> None:
        import threading

        self.name = name
        self.seconds = seconds
        self._timer = threading.Timer(seconds, self._expired)
        self._timer.daemon = True
        self._timer.name = "anker-service-watchdog"
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def _expired(self) -> None:
        import os
        import sys

        log.critical(
            "%s: still stopping %g s after the drain began, its event loop blocked: exiting"
            " now, abandoning everything in flight",
            self.name,
            self.seconds,
        )
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(ExitCode.DEADLINE)


def _measure(component: Component, metrics: Metrics) -> None:
    """Have ``component`` record into ``metrics`` what it knows how to."""
    if isinstance(component, PeriodicTask):
        component.metrics = metrics
    observe = getattr(component, "observe", None)
    if observe is not None:
        observe(metrics)


def _apply_log_level(level: str) -> None:
    root = logging.getLogger()
    if root.level != logging.getLevelName(level):
        root.setLevel(level)
        log.info("log level is now %s", level)


ServiceFactory = Callable[[], "Service | Awaitable[Service]"]


def run(service: Service | ServiceFactory, *, workers: int = 1) -> int:
    """Run a service (or a factory that makes one, plain or async, called on the service's
    event loop) until it stops, and return its :class:`ExitCode` for ``sys.exit``::

        if __name__ == "__main__":
            sys.exit(anker.service.run(make_service))

    ``workers=N`` (N > 1) forks N worker processes, each making and running its own service
    (give a factory, so that nothing is opened before the fork), under a supervisor that
    restarts a crashed worker at once, with backoff on a crash loop, forwards SIGTERM,
    SIGINT and SIGHUP, and exits with the highest of the workers' exit codes.

    Logs go to stderr as text at INFO unless logging was configured already (or the
    config's ``[service]`` options say otherwise).

    .. versionadded:: 0.1
    """
    configured = bool(logging.getLogger().handlers)
    if workers > 1:
        from anker.service._logging import configure_logging
        from anker.service._workers import Supervisor

        if not configured:
            configure_logging(level=logging.INFO)
        return Supervisor(lambda: _run_here(service, True), workers).run()
    return _run_here(service, configured)


def _run_here(service: Service | ServiceFactory, configured: bool) -> int:
    async def main() -> int:
        started = time.monotonic()
        made: object = service
        try:
            if not isinstance(service, Service):
                made = service()
            if isinstance(made, Awaitable):
                made = await made
            if not isinstance(made, Service):
                raise TypeError(f"the factory returned {made!r}, not an anker.service.Service")
        except Exception as exc:
            if not configured:
                from anker.service._logging import configure_logging

                configure_logging(level=logging.INFO)
            log.error("the service could not be made: %s: %s", type(exc).__name__, exc)
            log.debug("the factory's error", exc_info=True)
            return int(ExitCode.FAILED)
        if not configured:
            from anker.service._logging import configure_logging

            options = made.options
            if options is None:
                configure_logging(level=logging.INFO)
            else:
                as_json = options.log_format == "json"
                configure_logging(format="json" if as_json else "text", level=options.log_level)
        log.debug("%s: made in %.3f s", made.name, time.monotonic() - started)
        return int(await made.serve())

    return asyncio.run(main())
