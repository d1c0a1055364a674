"""The interface of coordination backends, for driver authors; anker's own backends (one
module each) are loaded by URL scheme, so importing this package imports none of them.

A backend derives from :class:`Backend`, declares its options as a subclass of
:class:`CoordinationSettings`, and is registered under its URL scheme in the
``anker.coordination.backends`` entry point group. See ``anker.coordination._backend`` for the
contract and docs/index.md ("Writing a driver") for the kit it builds on.
"""

from anker._exports import show_public_paths
from anker.coordination._backend import (
    SERVER_EXPIRY,
    Backend,
    CoordinationSettings,
    Entry,
    EntryExists,
    EventWatch,
    SessionExpired,
    Watch,
)

__all__ = [
    "SERVER_EXPIRY",
    "Backend",
    "CoordinationSettings",
    "Entry",
    "EntryExists",
    "EventWatch",
    "SessionExpired",
    "Watch",
]

show_public_paths(__name__, globals(), __all__)
