"""The nats transport's connection: nats-py's client (which reconnects by itself, trying the
URL's servers in turn, and subscribes again), JetStream streams and consumers made once per
transport, and publishing to JetStream until the server confirms or ``timeout`` runs out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import quote

import orjson

from anker._drivers import DriverSettings, Seconds, require, setting
from anker._url import mask_secrets
from anker.errors import InvalidOption
from anker.messaging._errors import (
    MessageTooLarge,
    MessagingError,
    TransportClosed,
    TransportUnavailable,
)
from anker.messaging._transport import Transport, TransportSettings
from anker.messaging.transports.rabbit._tls import tls_context

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

    from anker._url import BackendURL

log = logging.getLogger("anker.messaging.nats")

NEEDED_FOR: Final = "the nats:// messaging transport"
DEFAULT_PORT: Final = 4222
#: Header names (``Anker-`` ones are anker's own; ``Nats-Msg-Id`` is JetStream's dedup id).
TTL_HEADER: Final = "Anker-TTL"
REDELIVERED_HEADER: Final = "Anker-Redelivered"
MSG_ID_HEADER: Final = "Nats-Msg-Id"


_PLAIN: Final = (
    "ssl=true, but the server does not require TLS, and nats-py speaks TLS only to servers"
    " that do: refused rather than talk in plain text (turn TLS on in the server)"
)


def _sealed(nc: Client) -> bool:
    """Whether nats-py upgraded the connection to TLS: it does iff the server's INFO said
    ``tls_required`` (a server with TLS merely available is spoken to in plain text)."""
    info: dict[str, Any] = getattr(nc, "_server_info", None) or {}
    return bool(info.get("tls_required"))


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class NatsSettings(TransportSettings):
    """The options of ``nats://``: the common ones, JetStream's ack wait and reconnection."""

    #: seconds JetStream waits for a message to be settled before delivering it again
    ack_wait: Seconds = setting(
        Seconds(30.0), min=0.001, help="seconds before an unsettled JetStream message comes again"
    )
    #: seconds between rounds of reconnection attempts
    reconnect_wait: Seconds = setting(
        Seconds(0.5), min=0.001, help="seconds between rounds of reconnection attempts"
    )
    # TLS, with the names of the rabbit transport's (oslo.messaging's) options
    ssl: bool = setting(False, help="TLS to the server (it must have TLS configured)")
    ssl_ca_file: str | None = setting(
        None, help="the CA bundle (PEM) the server's certificate chains to (default: the system's)"
    )
    ssl_cert_file: str | None = setting(
        None, help="a client certificate (PEM), for servers that verify their clients"
    )
    ssl_key_file: str | None = setting(None, help="the client certificate's private key (PEM)")
    ssl_verify: bool = setting(
        True, help="check the server's certificate and host name (false: testing only)"
    )


class Connected(Transport):
    """The connection side of :class:`~anker.messaging.transports.nats.NatsTransport`."""

    settings_class: ClassVar[type[DriverSettings]] = NatsSettings
    settings: NatsSettings

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        self._nats: ModuleType | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._closed = False
        self._last_error = "not connected yet"
        #: streams and consumers made on the server, by name: made once, the wait shared
        self._made: dict[Any, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- connecting -----------------------------------------------------------------------

    def _masked(self, text: str) -> str:
        """``text`` with every credential of the URL masked (errors from below may echo)."""
        return mask_secrets(text, self.url)

    def _server_urls(self) -> list[str]:
        urls = []
        endpoints = self.url.endpoints or ()
        if not endpoints:
            raise InvalidOption("url", self.describe(self.url), "the URL names no server")
        for endpoint in endpoints:
            userinfo = ""
            if endpoint.username is not None or endpoint.password is not None:
                userinfo = quote(endpoint.username or "", safe="")
                if endpoint.password is not None:
                    userinfo += ":" + quote(endpoint.password.reveal(), safe="")
                userinfo += "@"
            host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
            urls.append(f"nats://{userinfo}{host}:{endpoint.port or DEFAULT_PORT}")
        return urls

    async def _plain_servers(self) -> list[str]:
        """The URL's servers that answer and do not require TLS, read from the INFO line a
        NATS server sends first: before any credential is sent to them."""
        plain = []
        for endpoint in self.url.endpoints or ():
            where = (endpoint.host, endpoint.port or DEFAULT_PORT)
            try:
                async with asyncio.timeout(self.settings.timeout):
                    reader, writer = await asyncio.open_connection(*where)
                    try:
                        line = await reader.readline()
                    finally:
                        writer.close()
            except (OSError, TimeoutError):
                continue  # down: connecting says so, or takes another server
            try:
                info = orjson.loads(line[5:]) if line.startswith(b"INFO ") else None
            except orjson.JSONDecodeError:
                info = None  # not a NATS server: connecting says so
            if isinstance(info, dict) and not info.get("tls_required"):
                plain.append("{}:{}".format(*where))
        return plain

    async def connect(self) -> None:
        tls = tls_context(self.settings, self.describe(self.url))
        self._nats = require("nats", extra="nats", needed_for=NEEDED_FOR)
        servers = self._server_urls()
        if tls is not None and (plain := await self._plain_servers()):
            reason = f"{_PLAIN} ({', '.join(plain)})"
            raise TransportUnavailable(str(self.url), "connecting", reason)
        reconnect_wait = float(self.settings.reconnect_wait)
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            self._last_error = self._masked(describe(exc))
            errors.append(self._last_error)
            log.debug("nats: %s", self._last_error)

        async def on_disconnected() -> None:
            if not self._closed:
                log.warning("lost the connection to %s; reconnecting", self.url)

        async def on_reconnected() -> None:
            # a server restarted without its store has none of the streams and consumers:
            # each is made again (an idempotent request) on its next use
            self._made.clear()
            nc = self._nc
            if tls is not None and nc is not None and not _sealed(nc):
                log.error("%s: %s; closing the connection", self.url, _PLAIN)
                await nc.close()
                return
            where = self._masked(str(nc.connected_url.netloc)) if nc and nc.connected_url else "?"
            log.info("reconnected to %s", where.rsplit("@", 1)[-1])

        try:
            async with asyncio.timeout(self.settings.timeout):
                self._nc = await self._nats.connect(
                    servers=servers,
                    connect_timeout=self.settings.timeout,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=reconnect_wait,
                    error_cb=on_error,
                    disconnected_cb=on_disconnected,
                    reconnected_cb=on_reconnected,
                    name=f"anker {self.settings.exchange}",
                    **({} if tls is None else {"tls": tls}),
                )
        except Exception as exc:
            reason = errors[-1] if errors else self._masked(describe(exc))
            raise TransportUnavailable(str(self.url), "connecting", reason) from exc
        if tls is not None and not _sealed(self._nc):
            await self._nc.close()
            self._nc = None
            raise TransportUnavailable(str(self.url), "connecting", _PLAIN)
        self._js = self._nc.jetstream(timeout=self.settings.timeout)

    @property
    def client(self) -> Client:
        if self._closed or self._nc is None:
            raise TransportClosed(str(self.url))
        return self._nc

    @property
    def jetstream(self) -> JetStreamContext:
        if self._closed or self._js is None:
            raise TransportClosed(str(self.url))
        return self._js

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def limit(self) -> int:
        """The largest message: ``max_message_size``, or the server's max_payload if less."""
        nc = self._nc
        server = nc.max_payload if nc is not None and nc.max_payload else None
        return min(self.settings.max_message_size, server or self.settings.max_message_size)

    def too_large(self, what: str, size: int) -> MessageTooLarge:
        """The error for a message of ``size`` bytes over :attr:`limit`, naming the limit."""
        mine = self.limit >= self.settings.max_message_size
        setting = "max_message_size" if mine else "the server's max_payload"
        return MessageTooLarge(what, size, self.limit, setting=setting)

    @contextlib.asynccontextmanager
    async def translated(self, what: str) -> AsyncIterator[None]:
        """nats-py's errors (and timeouts) inside as ``TransportUnavailable``, URL masked."""
        try:
            yield
        except MessagingError:
            raise
        except Exception as exc:
            raise TransportUnavailable(str(self.url), what, self._masked(describe(exc))) from exc

    async def publish_now(
        self,
        subject: str,
        body: bytes,
        what: str,
        *,
        reply: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        """A core NATS publish (buffered by nats-py while it reconnects); a closed
        connection or a full reconnect buffer is ``TransportUnavailable``."""
        nc = self.client
        try:
            await nc.publish(subject, body, reply=reply, headers=headers)
        except Exception as exc:
            raise TransportUnavailable(str(self.url), what, self._masked(describe(exc))) from exc

    async def probe(self) -> None:
        """A PING answered by the server within ``timeout``: one round trip."""
        nc = self.client
        if not nc.is_connected:
            raise TransportUnavailable(
                str(self.url), "probe", f"not connected ({self._masked(self._last_error)})"
            )
        async with asyncio.timeout(self.settings.timeout):
            await nc.flush()

    async def _disconnect(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.settings.timeout):
                    await nc.close()
        if tasks:  # ended, not left pending for the loop to destroy
            await asyncio.wait(tasks, timeout=self.settings.timeout)

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def _attempt(self) -> float:
        """Seconds one try of a JetStream request may take (see :meth:`_retrying`)."""
        return max(2.0, self.settings.timeout / 4)

    # -- JetStream ------------------------------------------------------------------------

    async def _once(self, key: Any, make: Callable[[], Awaitable[Any]], what: str) -> None:
        """Run ``make()`` once for ``key`` (a stream or consumer), retried until ``timeout``
        while the connection is down; concurrent callers share the wait."""
        future = self._made.get(key)
        if future is None:
            future = self._made[key] = asyncio.get_running_loop().create_future()
            try:
                await self._retrying(make, what)
            except BaseException as exc:
                del self._made[key]
                future.set_exception(exc)
                future.exception()  # retrieved: the waiters re-raise it
                raise
            future.set_result(None)
            return
        await asyncio.shield(future)

    async def _retrying(self, operation: Callable[[], Awaitable[Any]], what: str) -> Any:
        """``operation()``, again while the server cannot be reached, for ``timeout``."""
        assert self._nats is not None
        errors = self._nats.errors
        deadline = time.monotonic() + self.settings.timeout
        delay = 0.05
        while True:
            if self._closed:
                raise TransportClosed(str(self.url))
            # each try gets a part of the time: a request sent just before the connection
            # dropped is never answered, and waiting all of timeout for it would leave none
            attempt = min(max(deadline - time.monotonic(), 0.001), self._attempt)
            try:
                async with asyncio.timeout(attempt):
                    return await operation()
            except (
                TimeoutError,
                errors.NoRespondersError,
                errors.ConnectionClosedError,
                errors.ConnectionReconnectingError,
                errors.OutboundBufferLimitError,
                self._nats.js.errors.NoStreamResponseError,
                self._nats.js.errors.ServiceUnavailableError,
            ) as exc:
                self._last_error = self._masked(describe(exc))
            except self._nats.js.errors.APIError as exc:
                raise TransportUnavailable(
                    str(self.url), what, self._masked(describe(exc))
                ) from exc
            if time.monotonic() + delay >= deadline:
                raise TransportUnavailable(
                    str(self.url),
                    what,
                    f"no answer from JetStream within {self.settings.timeout:g} s "
                    f"({self._last_error})",
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def stream(self, name: str, subjects: str, *, dead_letters: bool = False) -> None:
        """Make the stream ``name`` holding ``subjects`` (interest retention: a message is
        kept until every consumer that wants it acknowledged it; limits retention for
        dead letters, which wait for an operator). File storage with ``durable``."""
        made = self._made.get(("stream", name))
        if made is not None and made.done() and not made.cancelled() and not made.exception():
            return  # every publish asks: no new config for a stream made already
        api = self._nats.js.api if self._nats is not None else None
        assert api is not None
        config = api.StreamConfig(
            name=name,
            subjects=[subjects],
            retention=api.RetentionPolicy.LIMITS if dead_letters else api.RetentionPolicy.INTEREST,
            storage=api.StorageType.FILE if self.settings.durable else api.StorageType.MEMORY,
            max_msg_size=self.settings.max_message_size,
        )
        js = self.jetstream
        await self._once(("stream", name), lambda: js.add_stream(config), f"making stream {name}")

    async def durable_consumer(self, stream: str, name: str, subject: str) -> None:
        """Make the durable pull consumer ``name`` of ``subject`` in ``stream``."""
        assert self._nats is not None
        api = self._nats.js.api
        config = api.ConsumerConfig(
            durable_name=name,
            filter_subject=subject,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=float(self.settings.ack_wait),
        )
        js = self.jetstream
        await self._once(
            ("consumer", stream, name),
            lambda: js.add_consumer(stream, config),
            f"making consumer {name} of {subject}",
        )

    async def publish_kept(
        self,
        subject: str,
        body: bytes,
        headers: dict[str, str],
        what: str,
        prepare: Callable[[], Awaitable[None]],
    ) -> None:
        """Publish to JetStream and wait for its acknowledgement (the message is stored), again
        on the next connection if it drops first; ``Nats-Msg-Id`` makes the retries one.

        ``prepare`` makes the stream (and consumers) the message needs; it runs before each
        try, which costs nothing once they are made, and makes them again when a server that
        restarted without its store says no stream takes the subject."""
        assert self._nats is not None
        no_stream = self._nats.js.errors.NoStreamResponseError
        js = self.jetstream

        async def publish() -> None:
            await prepare()
            try:
                await js.publish(subject, body, headers=headers)
            except no_stream:
                self._made.clear()  # rare: what else was made may be gone too
                raise

        await self._retrying(publish, what)
