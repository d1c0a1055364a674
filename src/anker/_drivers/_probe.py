"""``probe_driver``: one bounded, translated call of a driver's cheap probe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from anker._drivers._boundary import boundary

if TYPE_CHECKING:
    from anker._drivers._base import Driver

__all__ = ["probe_driver"]


async def probe_driver(driver: Driver, *, timeout: float | None = None) -> None:
    """Run ``driver.probe()`` within ``timeout`` seconds.

    A client error or the timeout becomes the driver's :class:`~anker.errors.Unavailable`
    subclass (credentials masked), so a caller such as a health check needs to catch one error
    to know that the dependency is down.
    """
    async with boundary(driver.unavailable, driver.url, "probe", timeout=timeout):
        await driver.probe()
