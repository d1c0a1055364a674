"""Built-in checks: the event loop, disk space, and anker's parts through their drivers' probes."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anker._url import mask_urls
from anker.health._check import Check, ComponentType, Result

if TYPE_CHECKING:
    from anker._drivers import Driver

__all__ = [
    "check_coordinator",
    "check_disk",
    "check_driver",
    "check_engine",
    "check_event_loop",
    "check_for",
    "check_key_manager",
    "check_quota",
    "check_transport",
    "check_workflow_engine",
]

MIB = 1024 * 1024


def check_event_loop(
    *, warn: float = 0.1, fail: float = 5.0, groups: Iterable[str] = ("live",)
) -> Check:
    """``eventloop:lag``, in ``live``: how long a callback waits for the event loop now (ms).

    ``warn`` and ``fail`` are seconds. A loop stuck for good never runs the check at all: the
    endpoint itself does not answer, which is what the platform's liveness probe sees.
    """

    async def lag() -> Result:
        loop = asyncio.get_running_loop()
        ran = loop.create_future()
        started = time.perf_counter()
        loop.call_soon(ran.set_result, None)
        await ran
        waited = time.perf_counter() - started
        value = round(waited * 1000, 3)
        if waited >= fail:
            return Result.failed("the event loop is overloaded", value, "ms")
        if waited >= warn:
            return Result.warned("the event loop is slow", value, "ms")
        return Result.passed(value, "ms")

    return Check("eventloop:lag", lag, "system", frozenset(groups))


def check_disk(
    path: str | Path,
    *,
    min_free: int = 100 * MIB,
    warn_free: int | None = None,
    name: str = "disk:free",
    groups: Iterable[str] = ("ready",),
) -> Check:
    """``disk:free``: the space left (MiB) on the file system holding ``path``.

    ``fail`` under ``min_free`` bytes, ``warn`` under ``warn_free`` (default twice
    ``min_free``). The path is never shown.
    """
    warn_at = 2 * min_free if warn_free is None else warn_free

    async def free() -> Result:
        usage = await asyncio.to_thread(shutil.disk_usage, os.fspath(path))
        value = round(usage.free / MIB, 1)
        if usage.free < min_free:
            return Result.failed("the disk is full", value, "MiB")
        if usage.free < warn_at:
            return Result.warned("the disk is nearly full", value, "MiB")
        return Result.passed(value, "MiB")

    return Check(name, free, "system", frozenset(groups))


def check_driver(
    driver: Driver,
    name: str,
    component_type: ComponentType = "datastore",
    *,
    groups: Iterable[str] = ("ready",),
    timeout: float | None = None,
) -> Check:
    """``<name>:responseTime``: the driver's cheap probe, timed (ms).

    The probe's :class:`~anker.errors.Unavailable` becomes ``fail``, "<what> unavailable"
    (the error itself, credentials masked, only with ``show_errors``).
    """

    async def probe() -> Result:
        return await probe_result(driver)

    return Check(f"{name}:responseTime", probe, component_type, frozenset(groups), timeout, driver)


async def probe_result(driver: Driver) -> Result:
    """The driver's probe as a check's result: its time (ms), or ``fail``."""
    from anker._drivers import probe_driver
    from anker.errors import AnkerError

    started = time.perf_counter()
    try:
        await probe_driver(driver)  # the registry's timeout bounds it
    except AnkerError as exc:  # Unavailable, or closed: the dependency cannot be used
        return Result.failed(f"{driver.kind} unavailable", detail=mask_urls(str(exc)))
    return Result.passed(round((time.perf_counter() - started) * 1000, 3), "ms")


def check_coordinator(
    coordinator: Any, name: str = "coordination", *, groups: Iterable[str] = ("ready",)
) -> Check:
    """The coordination backend of an :class:`anker.coordination.Coordinator`."""
    return check_driver(coordinator.driver, name, "datastore", groups=groups)


def check_transport(
    transport: Any, name: str = "messaging", *, groups: Iterable[str] = ("ready",)
) -> Check:
    """An :class:`anker.messaging.Transport`: connected, and the broker answers."""
    return check_driver(transport, name, "component", groups=groups)


def check_key_manager(
    manager: Any, name: str = "secrets", *, groups: Iterable[str] = ("ready",)
) -> Check:
    """The secret store of an :class:`anker.secrets.KeyManager`."""
    return check_driver(manager.driver, name, "datastore", groups=groups)


def check_quota(quota: Any, name: str = "limits", *, groups: Iterable[str] = ("ready",)) -> Check:
    """The store of an :class:`anker.limits.Quota`."""
    return check_driver(quota.store, name, "datastore", groups=groups)


def check_workflow_engine(
    engine: Any, name: str = "workflow", *, groups: Iterable[str] = ("ready",)
) -> Check:
    """The store of an :class:`anker.workflow.Engine`."""
    return check_driver(engine.store, name, "datastore", groups=groups)


#: the probe's own bound; the registry's check timeout (shorter by default) answers first
_PROBE_TIMEOUT = 30.0


def check_engine(
    engine: Any, name: str = "database", *, groups: Iterable[str] = ("ready",)
) -> Check:
    """``SELECT 1`` through a SQLAlchemy ``Engine`` (in a thread) or ``AsyncEngine``.

    A database error is a ``fail``, "database unavailable"; the error (credentials masked)
    only with ``show_errors``.
    """

    async def select() -> Result:
        return await select_result(engine)

    return Check(f"{name}:responseTime", select, "datastore", frozenset(groups), subject=engine)


async def select_result(engine: Any) -> Result:
    """anker.db's probe of ``engine`` as a check's result: its time (ms), or ``fail``.

    The probe runs ``SELECT 1`` within its own timeout, and replaces a connection the server
    closed while pooled rather than reporting the database as down.
    """
    from sqlalchemy.ext.asyncio import AsyncEngine

    from anker.db import probe, probe_async

    try:
        if isinstance(engine, AsyncEngine):
            seconds = await probe_async(engine, timeout=_PROBE_TIMEOUT)
        else:
            seconds = await asyncio.to_thread(probe, engine, timeout=_PROBE_TIMEOUT)
    except Exception as exc:
        from anker._drivers import describe_error

        detail = mask_urls(describe_error(exc, engine.url.password))
        return Result.failed("database unavailable", detail=detail)
    return Result.passed(round(seconds * 1000, 3), "ms")


def check_for(part: object, *, groups: Iterable[str] = ("ready",)) -> Check:
    """The built-in check of one of anker's parts: a ``Coordinator``, a messaging
    ``Transport``, a ``KeyManager``, a ``Quota``, a workflow ``Engine``, a SQLAlchemy
    ``Engine`` or ``AsyncEngine``, or any driver. Raises TypeError for anything else."""
    for kind, make in _makers():
        if isinstance(part, kind):
            return make(part, groups=groups)
    if _is_engine(part):
        return check_engine(part, groups=groups)
    raise TypeError(f"no built-in health check for {type(part).__qualname__}: write a Check for it")


def _makers() -> list[tuple[type, Callable[..., Check]]]:
    """(class, check function) of anker's parts, most specific first."""
    from anker._drivers import Driver
    from anker.coordination import Coordinator
    from anker.limits import Quota
    from anker.messaging import Transport
    from anker.secrets import KeyManager

    def of_driver(driver: Driver, *, groups: Iterable[str]) -> Check:
        return check_driver(driver, driver.url.scheme, groups=groups)

    found: list[tuple[type, Callable[..., Check]]] = [
        (Coordinator, check_coordinator),
        (Transport, check_transport),
        (KeyManager, check_key_manager),
        (Quota, check_quota),
    ]
    workflow = sys.modules.get("anker.workflow._engine")  # loaded if a part can be one
    if workflow is not None:
        found.append((workflow.Engine, check_workflow_engine))
    found.append((Driver, of_driver))
    return found


def _is_engine(part: object) -> bool:
    import sys

    sqlalchemy = sys.modules.get("sqlalchemy")  # an engine means SQLAlchemy is imported
    if sqlalchemy is None:
        return False
    from sqlalchemy.ext.asyncio import AsyncEngine

    return isinstance(part, sqlalchemy.Engine | AsyncEngine)
