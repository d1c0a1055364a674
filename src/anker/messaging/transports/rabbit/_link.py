"""The rabbit transport's connection: connecting to the first host that answers, and a
supervisor that connects again when it drops (backoff with jitter), re-creating every
consumer on the new connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import sys
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from anker._drivers import Backoff, DriverSettings, require
from anker._url import mask_secrets
from anker.messaging._errors import TransportClosed, TransportUnavailable
from anker.messaging._transport import Transport
from anker.messaging.transports.rabbit._tls import DEFAULT_TLS_PORT, tls_context

if TYPE_CHECKING:
    from aiormq.abc import AbstractChannel, AbstractConnection

    from anker._url import BackendURL, Endpoint
    from anker.messaging.transports.rabbit._consumer import Consumer

log = logging.getLogger("anker.messaging.rabbit")

NEEDED_FOR: Final = "the rabbit:// messaging transport"
DEFAULT_PORT: Final = 5672
#: Reconnection backoff: the first delay, and the longest one (full jitter, see Backoff).
BACKOFF_FIRST: Final = 0.1
BACKOFF_MAX: Final = 2.0


class Lost(Exception):
    """The connection (or the channel in use) went away: try again on the next one.

    ``answered``: some host answered (refused, reset, closed) rather than only timing out.
    """

    def __init__(self, reason: str, *, answered: bool = True) -> None:
        super().__init__(reason)
        self.answered = answered


@dataclass(eq=False, slots=True)
class Link:
    """One connection and what was set up on it; a new one after every reconnection."""

    connection: AbstractConnection
    publisher: AbstractChannel
    admin: AbstractChannel  # declarations for publishers (a refusal closes only this)
    endpoint: str
    generation: int
    declared: dict[Any, asyncio.Future[None]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: replies, without publisher confirms (opened by the first reply on this connection)
    replier: AbstractChannel | None = None

    @property
    def up(self) -> bool:
        return not self.connection.is_closed


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return "timed out"
    return text


def _refused_vhost(exc: BaseException) -> bool:
    """Whether aiormq's ``exc`` is the broker closing the connection in answer to opening
    the virtual host (RabbitMQ's 530 NOT_ALLOWED, whose text aiormq drops there)."""
    text = str(exc)
    return "Connection.OpenOk" in text and "Connection.Close" in text


class _ReportedByAnker(logging.Filter):
    """aiormq logs every failed connection attempt at ERROR ("error when creating
    transport"), and every lost connection at WARNING with its traceback ("Cancelling cause
    reader exited abnormally"); the transport reports its own failures (with every host it
    tried and why) and losses, so those records would only repeat them, once per attempt of
    every reconnection. A reader that failed for another reason (a malformed frame) is
    still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if text.startswith("error when creating transport"):
            return False
        if text.startswith("Cancelling cause reader exited abnormally") and record.exc_info:
            exc = record.exc_info[1]
            lost = (ConnectionError, asyncio.IncompleteReadError)
            return not (isinstance(exc, lost) or isinstance(exc and exc.__cause__, lost))
        return True


_QUIET: Final = _ReportedByAnker()


class Supervised(Transport):
    """The connection side of :class:`~anker.messaging.transports.rabbit.RabbitTransport`:
    the current :class:`Link`, the supervisor task keeping one up, and the consumers it
    re-creates on every new one."""

    #: set by the transport from its URL and options
    heartbeat: int
    vhost: str

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        self._aiormq: ModuleType | None = None
        self._errors: ModuleType | None = None
        self._properties: Any = None
        self._link: Link | None = None
        self._ready: asyncio.Event | None = None
        self._generation = 0
        self._closed = False
        self._last_error = "not connected yet"
        self._supervisor: asyncio.Task[None] | None = None
        self._consumers: set[Consumer] = set()
        self._replies: Consumer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: the TLS context (None: plain AMQP), made when connecting
        self._tls: ssl.SSLContext | None = None
        self._connection_name = f"{os.path.basename(sys.argv[0] or 'python')}:{os.getpid()}:" + (
            uuid.uuid4().hex
        )

    # -- connecting -----------------------------------------------------------------------

    def _masked(self, text: str) -> str:
        """``text`` with every credential of the URL masked (errors from below may echo)."""
        return mask_secrets(text, self.url)

    def _credentials(self, endpoint: Endpoint) -> tuple[str | None, Any]:
        """The user and password for ``endpoint``: its own, else the first the URL gives
        (``rabbit://user:pw@mq1,mq2``), else none (the broker's ``guest``)."""
        if endpoint.username is None and endpoint.password is None:
            for other in self.url.endpoints:
                if other.username is not None or other.password is not None:
                    return other.username, other.password
        return endpoint.username, endpoint.password

    def _amqp_url(self, endpoint: Endpoint) -> Any:
        yarl = require("yarl", extra="rabbit", needed_for=NEEDED_FOR)
        username, password = self._credentials(endpoint)
        return yarl.URL.build(
            scheme="amqp" if self._tls is None else "amqps",
            user=username if username is not None else "guest",
            password=password.reveal() if password is not None else "guest",
            host=endpoint.host,
            port=endpoint.port or (DEFAULT_PORT if self._tls is None else DEFAULT_TLS_PORT),
            path="/" + self.vhost,
            query={"heartbeat": str(self.heartbeat)},
        )

    async def _connect_one(self, endpoint: Endpoint, timeout: float) -> AbstractConnection:
        assert self._aiormq is not None
        connection: AbstractConnection = self._aiormq.Connection(
            self._amqp_url(endpoint),
            client_properties={"connection_name": self._connection_name},
            context=self._tls,
        )
        try:
            async with asyncio.timeout(timeout):
                await connection.connect()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.close())
            if _refused_vhost(exc):
                user = self._credentials(endpoint)[0] or "guest"
                raise ConnectionRefusedError(
                    f"the broker refused the virtual host {self.vhost!r}: it does not exist, "
                    f"or the user {user!r} has no permission on it"
                ) from None
            raise
        return connection

    async def _establish(self, budget: float) -> Link:
        """Connect to the first host that answers and set everything up on it."""
        deadline = time.monotonic() + budget
        endpoints = self.url.endpoints or ()
        if not endpoints:
            raise Lost("the URL names no host")
        errors: list[str] = []
        answered = False
        for index, endpoint in enumerate(endpoints):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                errors.append(f"{endpoint.render()}: no time left")
                continue
            try:
                connection = await self._connect_one(endpoint, remaining / (len(endpoints) - index))
            except Exception as exc:
                errors.append(f"{endpoint.render()}: {self._masked(describe(exc))}")
                answered = answered or not isinstance(exc, TimeoutError)
                continue
            try:
                return await self._set_up(connection, endpoint, deadline)
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close())
                if not isinstance(exc, Exception):
                    raise
                errors.append(f"{endpoint.render()}: {self._masked(describe(exc))}")
                answered = answered or not isinstance(exc, TimeoutError)
        raise Lost("; ".join(errors), answered=answered)

    async def _set_up(
        self, connection: AbstractConnection, endpoint: Endpoint, deadline: float
    ) -> Link:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
            publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
            admin = await connection.channel(publisher_confirms=False)
        self._generation += 1
        link = Link(connection, publisher, admin, endpoint.render(), self._generation)
        consumers = [c for c in (self._replies, *self._consumers) if c is not None]
        for consumer in consumers:
            try:
                # each consumer has a whole timeout: many consumers must not starve the last
                await consumer.attach(link, self.settings.timeout)
            except Exception as exc:
                if connection.is_closed:
                    raise
                log.error("could not consume %s again: %s; retrying", consumer, describe(exc))
                self._spawn(self._reattach(consumer))
        return link

    async def connect(self) -> None:
        self._tls = tls_context(self.settings, self.describe(self.url))
        self._aiormq = require("aiormq", extra="rabbit", needed_for=NEEDED_FOR)
        logging.getLogger("aiormq.connection").addFilter(
            _QUIET
        )  # a filter already there is not added again
        self._errors = require("aiormq.exceptions", extra="rabbit", needed_for=NEEDED_FOR)
        self._properties = require(
            "pamqp.commands", extra="rabbit", needed_for=NEEDED_FOR
        ).Basic.Properties
        self._ready = asyncio.Event()
        deadline = time.monotonic() + self.settings.timeout
        backoff = _backoff()
        answer: str | None = None  # the last round in which a host answered
        while True:
            try:
                self._link = await self._establish(deadline - time.monotonic())
                break
            except Lost as exc:
                if exc.answered:
                    answer = self._last_error = str(exc)
                else:  # a round cut short by the deadline must not hide why the others failed
                    self._last_error = str(exc) + (f" (the try before: {answer})" if answer else "")
            delay = backoff.next_delay()
            if time.monotonic() + delay >= deadline:
                raise TransportUnavailable(str(self.url), "connecting", self._last_error)
            await asyncio.sleep(delay)
        self._ready.set()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    # -- staying connected ----------------------------------------------------------------

    async def _supervise(self) -> None:
        """Wait for the connection to drop; then connect again, until the transport closes."""
        backoff = _backoff()
        while not self._closed:
            link = self._link
            if link is not None:
                await asyncio.wait([link.connection.closing])
                reason = _close_reason(link.connection.closing)
                if self._is_closed():
                    return
                self._lost(link)
                self._last_error = f"the connection to {link.endpoint} was lost ({reason})"
                log.warning("%s; reconnecting", self._masked(self._last_error))
                backoff.reset()
            try:
                self._link = await self._establish(self.settings.timeout)
            except Lost as exc:
                self._last_error = f"reconnecting failed: {exc}"
                delay = backoff.next_delay()
                log.info("%s; next try in %.1f s", self._last_error, delay)
                await asyncio.sleep(delay)
                continue
            if self._is_closed():  # aclose ran while this connected: it will not see this link
                with contextlib.suppress(Exception):
                    await self._link.connection.close()
                return
            assert self._ready is not None
            self._ready.set()
            log.info("reconnected to %s", self._link.endpoint)

    def _is_closed(self) -> bool:
        return self._closed

    async def probe(self) -> None:
        """Connected now, and the broker answers one passive declaration of ``amq.direct``
        (which every vhost has) on the admin channel: a round trip that changes nothing."""
        if self._closed:
            raise TransportClosed(str(self.url))
        link = self._link
        if link is None or not link.up:
            raise TransportUnavailable(
                str(self.url), "probe", f"not connected ({self._masked(self._last_error)})"
            )
        async with asyncio.timeout(self.settings.timeout), link.lock:
            if link.admin.is_closed:
                link.admin = await link.connection.channel(publisher_confirms=False)
            await link.admin.exchange_declare("amq.direct", exchange_type="direct", passive=True)

    def _lost(self, link: Link) -> None:
        if self._link is link:
            self._link = None
            if self._ready is not None and not self._closed:
                self._ready.clear()

    async def _connected(self, deadline: float, what: str) -> Link:
        """The current connection, waiting for the supervisor to make one (until deadline)."""
        while True:
            if self._closed:
                raise TransportClosed(str(self.url))
            link = self._link
            if link is not None:
                if link.up:
                    return link
                self._lost(link)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._ready is None:
                raise TransportUnavailable(
                    str(self.url),
                    what,
                    f"no connection to the broker within {self.settings.timeout:g} s "
                    f"({self._masked(self._last_error)})",
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._ready.wait()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reattach(self, consumer: Consumer) -> None:
        link = self._link
        if link is None or not link.up or self._closed:
            return  # the supervisor sets it up on the next connection
        old = consumer.channel
        if old is not None and not old.is_closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.settings.timeout):
                    await old.close()
        backoff = _backoff()
        while consumer.active and not self._closed and link.up and self._link is link:
            try:
                await consumer.attach(link, self.settings.timeout)
                return
            except Exception as exc:
                # a server that silently stopped consuming is the worst outcome: keep trying
                # (with backoff) for as long as this connection lives
                delay = backoff.next_delay()
                log.error(
                    "could not consume %s again: %s; next try in %.1f s",
                    consumer,
                    describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)

    async def _queue_exists(self, connection: AbstractConnection, name: str) -> bool:
        assert self._errors is not None
        probe = await connection.channel(publisher_confirms=False)
        try:
            await probe.queue_declare(name, passive=True)
        except self._errors.ChannelNotFoundEntity:
            return False
        finally:
            if not probe.is_closed:
                with contextlib.suppress(Exception):
                    await probe.close()
        return True


def _backoff() -> Backoff:
    return Backoff(first=BACKOFF_FIRST, cap=BACKOFF_MAX)


def _close_reason(closing: asyncio.Future[Any]) -> str:
    if not closing.done() or closing.cancelled():
        return "closed"
    exc = closing.exception()
    return "closed" if exc is None else describe(exc)
