"""The errors of anker.messaging; each names the target, method or message it is about.

::

    MessagingError
     ├── InvalidTarget         (also ValueError)   a target that cannot be sent to or served
     ├── MessageTooLarge       (also ValueError)   an encoded message over the size limit
     ├── InvalidMessage        (also ValueError)   a received message that cannot be read
     ├── SerializationError    (also TypeError)    a value the serializer cannot put on the wire
     ├── TransportUnavailable                      the broker did not answer within the timeout
     ├── TransportClosed       (also RuntimeError) the transport was closed
     ├── DeliveryFailure                           the broker refused or lost a message
     ├── MessagingTimeout      (also TimeoutError) no reply within the call's timeout
     │    ├── ServerUnresponsive                   no reply or heartbeat within call_monitor_timeout
     │    └── NoResponders                         no server listens (the transport knows at once)
     ├── RemoteError                               the remote method raised an exception
     ├── NoSuchMethod          (also AttributeError) no endpoint has the method (raised remotely)
     ├── UnsupportedVersion                        no endpoint serves the requested version
     ├── ServerStopped         (also RuntimeError) a stopped server was asked to serve again
 └── AlreadySettled        (also RuntimeError) a raw message was acknowledged or refused twice
"""

from __future__ import annotations

from collections.abc import Sequence

from anker.errors import AnkerError, Unavailable

__all__ = [
    "AlreadySettled",
    "DeliveryFailure",
    "InvalidMessage",
    "InvalidTarget",
    "MessageTooLarge",
    "MessagingError",
    "MessagingTimeout",
    "NoResponders",
    "NoSuchMethod",
    "RemoteError",
    "SerializationError",
    "ServerStopped",
    "ServerUnresponsive",
    "TransportClosed",
    "TransportUnavailable",
    "UnsupportedVersion",
]


class MessagingError(AnkerError):
    """Something went wrong sending, receiving or serving a message."""


class InvalidTarget(MessagingError, ValueError):
    """A target lacks what the operation needs (a topic to send to, a server to serve on)."""

    def __init__(self, target: object, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"invalid target {target}: {reason}")


class MessageTooLarge(MessagingError, ValueError):
    """An encoded message is larger than the transport's ``max_message_size`` (or what the
    broker takes, if less: ``setting`` says which)."""

    def __init__(
        self, what: str, size: int, limit: int, *, setting: str = "max_message_size"
    ) -> None:
        self.what = what
        self.size = size
        self.limit = limit
        self.setting = setting
        super().__init__(
            f"{what} is {size} bytes encoded, over the limit of {int(limit)} bytes "
            f"({setting}); send a reference to the data instead",
        )

    def renamed(self, what: str) -> MessageTooLarge:
        """The same error about ``what`` (a method's result, not the queue it went to)."""
        return MessageTooLarge(what, self.size, self.limit, setting=self.setting)


class InvalidMessage(MessagingError, ValueError):
    """A received message is not one anker can read (not JSON, no method, a bad envelope).

    ``where`` names the queue or subject it came from, ``message_id`` its id if it had one.
    """

    def __init__(self, where: str, reason: str, message_id: str | None = None) -> None:
        self.where = where
        self.reason = reason
        self.message_id = message_id
        which = f" {message_id}" if message_id else ""
        self._text = f"message{which} from {where} cannot be read: {reason}"
        super().__init__(self._text)
        self.args = (where, reason, message_id)  # so a failure reply rebuilds it as itself

    def __str__(self) -> str:
        return self._text


class SerializationError(MessagingError, TypeError):
    """A value cannot be put on the wire by the serializer in use."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        super().__init__(f"cannot serialize {what}: {reason}")


class TransportUnavailable(MessagingError, Unavailable):
    """The broker did not answer (or refused) within the timeout.

    ``url`` is the transport URL with passwords masked; ``operation`` and ``reason`` say what
    failed (see :class:`anker.errors.Unavailable`).
    """

    what = "messaging transport"


class TransportClosed(MessagingError, RuntimeError):
    """The transport was closed; nothing more can be sent or received on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"messaging transport {url} is closed")


class DeliveryFailure(MessagingError):
    """The broker refused a message, or lost it before confirming it."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        super().__init__(f"{what} was not delivered: {reason}")


class MessagingTimeout(MessagingError, TimeoutError):
    """A call got no reply within its timeout."""

    def __init__(self, method: str, target: object, timeout: float, detail: str = "") -> None:
        self.method = method
        self.target = target
        self.timeout = timeout
        more = f"; {detail}" if detail else ""
        super().__init__(f"no reply to {method!r} on {target} within {timeout:g} s{more}")


class ServerUnresponsive(MessagingTimeout):
    """A call saw neither a reply nor a heartbeat within ``call_monitor_timeout``.

    The server that took the call is gone (or stuck); unlike a plain timeout this arrives
    as soon as the heartbeats stop, not at the end of the overall timeout.
    """


class NoResponders(MessagingTimeout):
    """A call found no server listening on its target, and the transport could tell at once
    (NATS answers a request nobody subscribes to with "no responders"), so the call fails
    now rather than at its timeout. A :class:`MessagingTimeout`, so code that retries timed
    out calls treats both alike.

    .. versionadded:: 0.2
    """

    def __init__(self, method: str, target: object, timeout: float) -> None:
        self.method = method
        self.target = target
        self.timeout = timeout
        Exception.__init__(
            self, f"no server listens for {method!r} on {target}: nobody took the call"
        )


class RemoteError(MessagingError):
    """The remote method raised an exception that is not re-raised as itself.

    ``exc_type`` is the remote class as ``module.Class``, ``value`` its message and
    ``traceback`` the remote traceback lines.
    """

    def __init__(self, exc_type: str, value: str, traceback: Sequence[str] = ()) -> None:
        self.exc_type = exc_type
        self.value = value
        self.traceback = list(traceback)
        super().__init__(f"remote {exc_type}: {value}")


class NoSuchMethod(MessagingError, AttributeError):
    """No endpoint of the server has the requested method (in that namespace)."""

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(f"Endpoint does not support RPC method {method}")
        self.args = (method,)  # so the error is rebuilt from its failure as itself

    def __str__(self) -> str:
        return f"Endpoint does not support RPC method {self.method}"


class UnsupportedVersion(MessagingError):
    """No endpoint serves the requested version of the API (same major, minor at most)."""

    def __init__(self, version: str, method: str | None = None) -> None:
        self.version = version
        self.method = method
        super().__init__(
            f"Endpoint does not support RPC version {version}. Attempted method: {method}"
        )
        self.args = (version, method)

    def __str__(self) -> str:
        return (
            f"Endpoint does not support RPC version {self.version}. Attempted method: {self.method}"
        )


class ServerStopped(MessagingError, RuntimeError):
    """A server that was stopped cannot be started again: make a new one."""


class AlreadySettled(MessagingError, RuntimeError):
    """A :class:`~anker.messaging.RawMessage` was settled (``ack``, ``nack`` or ``reject``)
    already, or went back to its queue when its consumer closed; ``outcome`` says how.

    .. versionadded:: 0.2
    """

    def __init__(self, where: str, outcome: str, attempted: str) -> None:
        self.where = where
        self.outcome = outcome
        super().__init__(
            f"cannot {attempted} a message from {where}: it was settled already ({outcome})"
        )
