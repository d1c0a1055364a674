"""anker.messaging: RPC and notifications, wire-compatible with oslo.messaging.

::

    from anker.messaging import RPCClient, RPCServer, Target, connect

    async with await connect("rabbit://guest:guest@127.0.0.1:5672/") as transport:
        server = RPCServer(transport, Target(topic="compute", server="node-1"), [ComputeAPI()])
        async with server:
            client = RPCClient(transport, Target(topic="compute"), timeout=30)
            print(await client.call(None, "get_host", name="vm-1"))

Transports, by URL scheme: ``memory://`` (in-process, the embedded default), ``rabbit://``
(RabbitMQ, speaking oslo.messaging's wire format) and ``nats://`` (NATS: calls on core
request/reply, casts and notifications on JetStream). See ``docs/messaging.md`` for the
delivery guarantees of each pattern and for choosing a broker.

Raw messages, the low-level API, for what RPC and notifications do not cover: bytes with
headers published to an exchange with a routing key (:meth:`Transport.publish`), consumed
from a queue bound with AMQP topic patterns (:meth:`Transport.consume`, a
:class:`RawConsumer` of :class:`RawMessage`), acknowledged explicitly.

The interface transports implement (for driver authors) is in
``anker.messaging.transports``.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker.messaging._blocking import (
    BlockingNotifier,
    BlockingRPCClient,
    BlockingRPCServer,
    BlockingTransport,
)
from anker.messaging._client import RPCClient, VersionCapError
from anker.messaging._context import RequestContext, current_context
from anker.messaging._errors import (
    AlreadySettled,
    DeliveryFailure,
    InvalidMessage,
    InvalidTarget,
    MessageTooLarge,
    MessagingError,
    MessagingTimeout,
    NoResponders,
    NoSuchMethod,
    RemoteError,
    SerializationError,
    ServerStopped,
    ServerUnresponsive,
    TransportClosed,
    TransportUnavailable,
    UnsupportedVersion,
)
from anker.messaging._events import EventStream, Subscriber, SubscriptionRefused
from anker.messaging._listener import (
    BatchNotificationListener,
    Notification,
    NotificationFilter,
    NotificationListener,
    NotificationResult,
)
from anker.messaging._notifier import Notifier
from anker.messaging._options import MessagingOptions, Transports, open_transports
from anker.messaging._raw import RawConsumer, RawMessage
from anker.messaging._serializer import JsonSerializer, RichSerializer, Serializer
from anker.messaging._server import RPCServer
from anker.messaging._signing import Signing
from anker.messaging._target import Target
from anker.messaging._transport import Transport, connect

__all__ = [
    "AlreadySettled",
    "BatchNotificationListener",
    "BlockingNotifier",
    "BlockingRPCClient",
    "BlockingRPCServer",
    "BlockingTransport",
    "DeliveryFailure",
    "EventStream",
    "InvalidMessage",
    "InvalidTarget",
    "JsonSerializer",
    "MessageTooLarge",
    "MessagingError",
    "MessagingOptions",
    "MessagingTimeout",
    "NoResponders",
    "NoSuchMethod",
    "Notification",
    "NotificationFilter",
    "NotificationListener",
    "NotificationResult",
    "Notifier",
    "RPCClient",
    "RPCServer",
    "RawConsumer",
    "RawMessage",
    "RemoteError",
    "RequestContext",
    "RichSerializer",
    "SerializationError",
    "Serializer",
    "ServerStopped",
    "ServerUnresponsive",
    "Signing",
    "Subscriber",
    "SubscriptionRefused",
    "Target",
    "Transport",
    "TransportClosed",
    "TransportUnavailable",
    "Transports",
    "UnsupportedVersion",
    "VersionCapError",
    "connect",
    "current_context",
    "open_transports",
]

show_public_paths(__name__, globals(), __all__)
