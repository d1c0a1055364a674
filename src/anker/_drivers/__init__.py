"""The driver kit: how every subsystem finds, configures, opens and talks to its backends.

* :func:`load_driver` finds a driver class by URL scheme in an entry point group, and
  :func:`require` imports its client library on first use (so ``import anker`` imports none);
* :class:`Driver` is the base of every driver: typed settings in, no I/O until ``connect()``;
* :class:`DriverSettings` and :func:`setting` declare a driver's options, parsed from the URL's
  query and keyword arguments with ``anker.config``'s types (:func:`parse_settings`);
* :func:`open_driver` does it all in one call and closes the driver if connecting fails;
* :meth:`Driver.probe` is one cheap round trip, run bounded by :func:`probe_driver` (health);
* :func:`boundary` and :func:`failure` turn client errors into the subsystem's
  :class:`~anker.errors.Unavailable`, credentials masked by :func:`~anker._url.mask_secrets`;
* :class:`Backoff` spaces out every reconnect, retry and poll loop.

See "Writing a driver" in docs/index.md.
"""

from anker._drivers._base import Driver
from anker._drivers._boundary import boundary, describe_error, failure
from anker._drivers._loading import GROUPS, available_drivers, load_driver, require
from anker._drivers._open import open_driver, prepare_driver
from anker._drivers._probe import probe_driver
from anker._drivers._retry import Backoff
from anker._drivers._settings import (
    DriverSettings,
    Seconds,
    option_names,
    parse_settings,
    setting,
)

__all__ = [
    "GROUPS",
    "Backoff",
    "Driver",
    "DriverSettings",
    "Seconds",
    "available_drivers",
    "boundary",
    "describe_error",
    "failure",
    "load_driver",
    "open_driver",
    "option_names",
    "parse_settings",
    "prepare_driver",
    "probe_driver",
    "require",
    "setting",
]
