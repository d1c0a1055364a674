"""Messaging for threaded code: the same coroutines, run on the transport's event loop.

::

    transport = BlockingTransport.connect("rabbit://guest:guest@mq1:5672/")
    client = transport.rpc_client(Target(topic="compute"), timeout=30)
    host = client.call(None, "get_host", name="vm-1")   # blocks this thread only
    transport.close()

:meth:`BlockingTransport.connect` runs the transport on anker's background loop (one per
process); ``BlockingTransport(transport)`` wraps one made on a loop of yours, which must keep
running. Calls from a thread that runs an event loop are refused
(:class:`~anker.errors.BlockingCallInEventLoop`): await the async API there.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Self, TypeVar

from anker._runtime import Portal, run_blocking
from anker.messaging._client import RPCClient
from anker.messaging._context import RequestContext
from anker.messaging._notifier import Notifier
from anker.messaging._server import RPCServer
from anker.messaging._target import Target
from anker.messaging._transport import Transport, connect

__all__ = ["BlockingNotifier", "BlockingRPCClient", "BlockingRPCServer", "BlockingTransport"]

T = TypeVar("T")
Context = RequestContext | Mapping[str, Any] | None


def _run(transport: Transport, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the loop the transport was opened on, through its portal."""
    if transport.loop is None:
        coroutine.close()
        raise RuntimeError(f"{transport!r} is not connected")
    return Portal(transport.loop).run(coroutine)


class BlockingRPCClient:
    """:class:`~anker.messaging.RPCClient` for threaded code (``call`` and ``cast`` block).

    .. versionadded:: 0.1
    """

    def __init__(self, client: RPCClient) -> None:
        self.client = client

    def prepare(self, **changes: Any) -> BlockingRPCClient:
        """A client with some options changed (as :meth:`anker.messaging.RPCClient.prepare`)."""
        return BlockingRPCClient(self.client.prepare(**changes))

    def call(self, context: Context, method: str, /, **kwargs: Any) -> Any:
        """Call ``method`` on a server and wait for its answer (as
        :meth:`anker.messaging.RPCClient.call`).
        """
        return _run(self.client.transport, self.client.call(context, method, **kwargs))

    def cast(self, context: Context, method: str, /, **kwargs: Any) -> None:
        """Send ``method`` to a server without waiting for an answer (as
        :meth:`anker.messaging.RPCClient.cast`).
        """
        _run(self.client.transport, self.client.cast(context, method, **kwargs))

    def can_send_version(self, version: str) -> bool:
        """Whether the version cap allows sending messages of ``version``."""
        return self.client.can_send_version(version)


class BlockingNotifier:
    """:class:`~anker.messaging.Notifier` for threaded code.

    .. versionadded:: 0.1
    """

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def notify(self, context: Context, event_type: str, payload: Any, priority: str) -> None:
        """Send a notification of ``priority``, waiting until the transport has taken it."""
        coroutine = self.notifier.notify(context, event_type, payload, priority)
        _run(self.notifier.transport, coroutine)

    def audit(self, context: Context, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``audit``."""
        self.notify(context, event_type, payload, "audit")

    def debug(self, context: Context, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``debug``."""
        self.notify(context, event_type, payload, "debug")

    def info(self, context: Context, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``info``."""
        self.notify(context, event_type, payload, "info")

    def warn(self, context: Context, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``warn``."""
        self.notify(context, event_type, payload, "warn")

    warning = warn

    def error(self, context: Context, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``error``."""
        self.notify(context, event_type, payload, "error")

    def critical(self, context: Context, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``critical``."""
        self.notify(context, event_type, payload, "critical")

    def sample(self, context: Context, event_type: str, payload: Any) -> None:
        """Send a notification of priority ``sample``."""
        self.notify(context, event_type, payload, "sample")


class BlockingRPCServer:
    """:class:`~anker.messaging.RPCServer` for threaded code: ``start`` and ``stop`` block.

    Sync endpoint methods run in the server's thread pool, async ones on the transport's loop.

    .. versionadded:: 0.1
    """

    def __init__(self, server: RPCServer) -> None:
        self.server = server

    def start(self) -> None:
        """Start consuming requests; returns once the server listens."""
        _run(self.server.transport, self.server.start())

    def stop(self, deadline: float = 30.0) -> None:
        """Stop taking requests and let those in progress finish within ``deadline`` seconds."""
        _run(self.server.transport, self.server.stop(deadline))

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class BlockingTransport:
    """A transport for threaded code, and the factory of its blocking clients and servers.

    .. versionadded:: 0.1
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @classmethod
    def connect(cls, url: str, **options: Any) -> BlockingTransport:
        """Connect on anker's background event loop."""
        return cls(run_blocking(connect(url, **options)))

    def close(self) -> None:
        """Close the transport and its connections."""
        _run(self.transport, self.transport.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def rpc_client(self, target: Target, **options: Any) -> BlockingRPCClient:
        """A :class:`BlockingRPCClient` that sends to ``target``."""
        return BlockingRPCClient(RPCClient(self.transport, target, **options))

    def notifier(self, publisher_id: str, **options: Any) -> BlockingNotifier:
        """A :class:`BlockingNotifier` that publishes as ``publisher_id``."""
        return BlockingNotifier(Notifier(self.transport, publisher_id, **options))

    def rpc_server(
        self, target: Target, endpoints: Sequence[object], **options: Any
    ) -> BlockingRPCServer:
        """A :class:`BlockingRPCServer` that dispatches requests for ``target`` to ``endpoints``."""
        return BlockingRPCServer(RPCServer(self.transport, target, endpoints, **options))
