"""The interface of messaging transports, for driver authors; anker's own transports
(``memory://`` and ``rabbit://``) are loaded by URL scheme, so importing this package imports
none of them.

A transport derives from :class:`Transport` (also ``anker.messaging.Transport``, the type of
what ``connect`` returns), declares its options as a subclass of :class:`TransportSettings`,
and is registered under its URL scheme in the ``anker.messaging.transports`` entry point
group. See docs/index.md ("Writing a driver").
"""

from anker.messaging._transport import (
    Handler,
    Incoming,
    PendingCalls,
    ReplyHandler,
    Subscription,
    Transport,
    TransportSettings,
)

__all__ = [
    "Handler",
    "Incoming",
    "PendingCalls",
    "ReplyHandler",
    "Subscription",
    "Transport",
    "TransportSettings",
]

for _name in ("Incoming", "PendingCalls", "Subscription", "TransportSettings"):
    globals()[_name].__module__ = __name__
del _name
