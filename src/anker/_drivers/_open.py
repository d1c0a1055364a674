"""``open_driver``: the one way every subsystem turns a URL into a connected driver."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from anker._drivers._boundary import boundary
from anker._drivers._loading import GROUPS, load_driver
from anker._drivers._settings import parse_settings
from anker._live import track
from anker.errors import CapabilityMissing

if TYPE_CHECKING:
    from anker._drivers._base import Driver
    from anker._url import BackendURL

__all__ = ["open_driver", "prepare_driver"]

D = TypeVar("D", bound="Driver")


def prepare_driver(
    group: str,
    url: str | BackendURL,
    base: type[D],
    options: Mapping[str, object] | None = None,
    *,
    require: Iterable[str] = (),
) -> D:
    """Everything :func:`open_driver` does but connecting: find the driver for ``url``'s
    scheme in entry point ``group``, parse its settings from the URL's query and ``options``
    (keyword arguments of the caller), check that it has the capabilities in ``require``,
    and construct it."""
    driver_class, parsed = load_driver(group, url, base)
    where = driver_class.describe(parsed)
    settings = parse_settings(driver_class.settings_class, parsed, options or {}, where=where)
    for capability in require:
        if capability not in driver_class.capabilities:
            raise CapabilityMissing(where, capability, driver_class.capabilities)
    return driver_class(parsed, settings)


async def open_driver(
    group: str,
    url: str | BackendURL,
    base: type[D],
    options: Mapping[str, object] | None = None,
    *,
    require: Iterable[str] = (),
    start: Callable[[D], Awaitable[None]] | None = None,
) -> D:
    """Find, configure, construct and connect the driver a URL names.

    ``start`` replaces the driver's ``connect()`` where a subsystem opens some drivers another
    way (``KeyManager.initialize`` makes a new store with the store's ``initialize()``).

    Raises :class:`~anker.errors.InvalidURL`, :class:`~anker.errors.DriverNotFound`,
    :class:`~anker.errors.MissingDependency`, :class:`~anker.errors.InvalidOption` or
    :class:`~anker.errors.CapabilityMissing` before any I/O, and the driver's
    :class:`~anker.errors.Unavailable` subclass if connecting fails or takes longer than
    the driver's :attr:`~anker.drivers.Driver.connect_timeout`. A driver whose connect
    fails or is cancelled is closed.
    """
    driver = prepare_driver(group, url, base, options, require=require)
    driver.loop = asyncio.get_running_loop()
    try:
        timeout = driver.connect_timeout
        async with boundary(driver.unavailable, driver.url, "connect", timeout=timeout):
            await (driver.connect() if start is None else start(driver))
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(driver.aclose())
        raise
    track(driver, _SUBSYSTEMS.get(group) or group.rsplit(".", 1)[-1])
    return driver


#: the subsystem each of anker's driver groups belongs to ("anker.limits.stores": "limits")
_SUBSYSTEMS = {group: subsystem for subsystem, group in GROUPS.items()}
