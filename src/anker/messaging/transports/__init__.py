"""The interface of messaging transports, for driver authors; anker's own transports
(``memory://``, ``rabbit://`` and ``nats://``) are loaded by URL scheme, so importing this
package imports none of them.

A transport derives from :class:`Transport` (also ``anker.messaging.Transport``, the type of
what ``connect`` returns), declares its options as a subclass of :class:`TransportSettings`,
and is registered under its URL scheme in the ``anker.messaging.transports`` entry point
group. See docs/index.md ("Writing a driver").
"""

from anker._exports import show_public_paths
from anker.messaging._transport import (
    Handler,
    Incoming,
    PendingCalls,
    RawHandler,
    ReplyHandler,
    Subscription,
    Transport,
    TransportSettings,
)

__all__ = [
    "Handler",
    "Incoming",
    "PendingCalls",
    "RawHandler",
    "ReplyHandler",
    "Subscription",
    "Transport",
    "TransportSettings",
]

show_public_paths(__name__, globals(), __all__)
