"""The kazoo clients of the ``zookeeper://`` backend: how one is made (reconnecting soon, logging
through anker's logger, noting what its handshakes said), why one failed to connect, stopping
one without waiting, and container nodes, which kazoo cannot create."""

from __future__ import annotations

import functools
import logging
import threading
from typing import TYPE_CHECKING, Any

from anker._drivers import describe_error, require
from anker._url import mask_secrets
from anker.coordination.backends._zookeeper_session import _stop

if TYPE_CHECKING:
    from anker._url import BackendURL

__all__ = ["NEEDED_FOR", "_KazooLog", "_create_container", "_new_client", "_stop_soon", "_why"]

log = logging.getLogger("anker.coordination")

NEEDED_FOR = "the zookeeper:// coordination backend"
SERIALIZATION = "kazoo.protocol.serialization"
#: ZooKeeper's createContainer request (3.5.3+): a node the server deletes once its last child
#: has gone (it looks every ``znode.container.checkIntervalMs``, a minute by default)
CREATE_CONTAINER, CONTAINER = 19, 4


class _KazooLog(logging.LoggerAdapter[logging.Logger]):
    """kazoo's log, through anker's: kazoo warns of every failed connection attempt (a dozen
    lines on stderr for one failed connect when logging is not configured), which the backend
    reports itself, so everything below ERROR goes out at DEBUG. kazoo's wire tracing (below
    DEBUG) is dropped: it shows session passwords. Credentials of the URL are masked (kazoo
    logs its requests, the digest login among them), and so is the session password."""

    def __init__(self, url: BackendURL) -> None:
        super().__init__(log, {})
        self.url = url

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if level < logging.DEBUG:
            return
        level = level if level >= logging.ERROR else logging.DEBUG
        if self.logger.isEnabledFor(level):
            # a reconnection's handshake (kazoo logs the request) carries the session password
            args = tuple(
                arg._replace(passwd=b"****")
                if hasattr(arg, "passwd") and hasattr(arg, "_replace")
                else arg
                for arg in args
            )
            try:
                text = str(msg) % args if args else str(msg)
            except (TypeError, ValueError):
                text = f"{msg} {args}"
            self.logger.log(level, "kazoo: %s", mask_secrets(text, self.url), **kwargs)

    def warn(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)


def _new_client(url: BackendURL, hosts: str, lease: float) -> Any:
    """A kazoo client for one session (or the reader), not started."""
    kazoo = require("kazoo.client", extra="zookeeper", needed_for=NEEDED_FOR)
    serialization = require(SERIALIZATION, extra="zookeeper", needed_for=NEEDED_FOR)
    first = url.endpoints[0]
    auth = (
        [("digest", f"{first.username or ''}:{first.password.reveal()}")]
        if first.password is not None
        else []
    )
    # reconnect soon (kazoo's default backs off to an hour): a session lives for one lease
    retry = kazoo.KazooRetry(
        max_tries=-1, delay=0.05, backoff=2, max_delay=min(max(lease / 3, 0.1), 2.0)
    )
    client = kazoo.KazooClient(
        hosts=hosts,
        timeout=lease,
        connection_retry=retry,
        auth_data=auth,
        logger=_KazooLog(url),
    )
    client.anker_failure = None
    handler = client._connection
    # A session timeout shorter than the lease lets a holder outlive its entries, and kazoo
    # keeps the granted one to itself: note it from the handshake's reply, read before
    # CONNECTED (_connect returns it after CONNECTED and the auth round trips: too late).
    invoke = handler._invoke

    def invoke_and_note(timeout: float, request: Any, xid: int | None = None) -> Any:
        result = invoke(timeout, request, xid)  # on kazoo's connection thread
        if isinstance(request, serialization.Connect):
            client.anker_granted = result[0].time_out / 1000
        return result

    # kazoo only logs why an attempt failed: note it, for the error if none succeeds
    connect = handler._connect

    def connect_and_note(host: str, hostip: str, port: int) -> Any:
        try:
            connected = connect(host, hostip, port)
        except Exception as exc:
            client.anker_failure = exc
            raise
        client.anker_failure = None
        return connected

    handler._invoke = invoke_and_note
    handler._connect = connect_and_note
    return client


def _why(client: Any, url: BackendURL) -> str:
    """Why ``client`` has not connected, as far as its last attempt tells."""
    failure = client.anker_failure
    if failure is None or isinstance(failure, client.handler.timeout_exception):
        return "no answer"
    if isinstance(failure.__context__, ConnectionRefusedError):
        return "connection refused"
    return describe_error(failure, url)


def _stop_soon(client: Any) -> None:
    """Stop a client that never got connected without waiting for it: a handshake under way
    holds its connection thread for up to a lease, which a caller's timeout must not pay."""
    threading.Thread(target=_stop, args=(client,), name="anker-zookeeper-stop", daemon=True).start()


@functools.cache
def _container_request() -> Any:
    serialization = require(SERIALIZATION, extra="zookeeper", needed_for=NEEDED_FOR)
    # answered like create2: the path and the new node's stat
    return type("CreateContainer", (serialization.Create2,), {"type": CREATE_CONTAINER})


def _create_container(client: Any, path: str) -> Any:
    """Create the container node ``path`` (kazoo has no such call); a kazoo async result whose
    value is ``(path, stat)``, NodeExistsError if it is there already."""
    security = require("kazoo.security", extra="zookeeper", needed_for=NEEDED_FOR)
    acl = client.default_acl or security.OPEN_ACL_UNSAFE
    result = client.handler.async_result()
    client._call(_container_request()(path, b"", acl, CONTAINER), result)  # errors go to result
    return result
