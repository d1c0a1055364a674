"""The driver kit, for authors of drivers (public home of ``anker._drivers``).

A driver derives from its subsystem's interface (``anker.coordination.backends.Backend``,
``anker.messaging.transports.Transport``, ``anker.secrets.stores.Store``), which derives from
:class:`Driver`; declares its options as a frozen dataclass of :class:`DriverSettings` (fields
typed as ``anker.config`` reads them, plus :class:`Seconds`, declared with :func:`setting`);
maps client errors with :func:`boundary`; retries with :class:`Backoff`; and imports its client
library on first use with :func:`require`. :func:`open_driver` is how every subsystem opens
one. See "Writing a driver" in docs/index.md.
"""

from anker._drivers import *  # noqa: F403 (the kit, under its public name)
from anker._drivers import __all__
from anker._exports import show_public_paths

show_public_paths(__name__, globals(), __all__)
