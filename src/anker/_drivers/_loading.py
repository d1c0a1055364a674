"""Finding the driver for a backend URL.

Drivers are registered as entry points, one group per subsystem, named by URL scheme::

    [project.entry-points."anker.coordination.backends"]
    redis = "anker.coordination.backends.redis:RedisBackend"

so a third-party package adds a backend by declaring an entry point, and ``import anker``
imports no driver and no client library: a driver module is imported when a URL names it, and
its client library when the driver is used (see :func:`require`).
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import TypeVar

from anker._url import BackendURL, parse_url
from anker.errors import DriverNotFound, MissingDependency

__all__ = ["GROUPS", "available_drivers", "load_driver", "require"]

T = TypeVar("T")

#: The driver groups of anker's subsystems, by subsystem name.
GROUPS: dict[str, str] = {
    "messaging": "anker.messaging.transports",
    "coordination": "anker.coordination.backends",
    "secrets": "anker.secrets.stores",
    "workflow": "anker.workflow.stores",
    "limits": "anker.limits.stores",
}


def available_drivers(group: str) -> dict[str, EntryPoint]:
    """The drivers registered in ``group``, by scheme (read afresh on every call)."""
    return {ep.name.lower(): ep for ep in entry_points(group=group)}


def load_driver(group: str, url: BackendURL | str, base: type[T]) -> tuple[type[T], BackendURL]:
    """Load the driver class that ``url``'s scheme names in ``group``.

    Returns the class, which must be a subclass of ``base``, and the parsed URL. Raises
    :class:`~anker.errors.InvalidURL` for a URL that does not parse,
    :class:`~anker.errors.DriverNotFound` (with a did-you-mean) for an unknown scheme, and
    :class:`~anker.errors.MissingDependency` when the driver's client library is missing.
    """
    parsed = parse_url(url) if isinstance(url, str) else url
    drivers = available_drivers(group)
    entry = drivers.get(parsed.scheme)
    if entry is None:
        close = difflib.get_close_matches(parsed.scheme, drivers, n=1)
        raise DriverNotFound(
            group, parsed.scheme, tuple(sorted(drivers)), close[0] if close else None
        )
    try:
        driver = entry.load()
    except ModuleNotFoundError as exc:
        extra = entry.extras[0] if entry.extras else None
        needed_for = f"the '{parsed.scheme}://' driver of {group}"
        raise MissingDependency(exc.name or str(exc), extra, needed_for) from exc
    if not (isinstance(driver, type) and issubclass(driver, base)):
        raise TypeError(
            f"entry point {entry.name} = {entry.value} in {group} is not a {base.__qualname__}"
        )
    return driver, parsed


def require(module: str, *, extra: str, needed_for: str) -> ModuleType:
    """Import a driver's client library, or say which ``pip install`` brings it.

    Drivers call this when first used, so the library is imported only by services that use
    that backend.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or module.split(".", maxsplit=1)[0] != exc.name.split(".")[0]:
            raise  # the library is there but something it imports is not: not ours to rename
        raise MissingDependency(module.split(".", maxsplit=1)[0], extra, needed_for) from exc
