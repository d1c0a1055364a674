"""The calling side of RPC: :class:`RPCClient` and the reply router its calls share."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from anker.messaging import _wire
from anker.messaging._context import RequestContext, context_entries, fresh_context_entries
from anker.messaging._errors import (
    InvalidTarget,
    MessagingTimeout,
    NoResponders,
    ServerUnresponsive,
)
from anker.messaging._serializer import JsonSerializer, Serializer, serialize_kwargs
from anker.messaging._signing import Refusals, reply_route, request_route
from anker.messaging._target import Target, check_seconds, check_version, version_is_compatible
from anker.messaging._tracing import producer_span
from anker.messaging._transport import PendingCalls, Transport, describe

__all__ = ["RPCClient", "VersionCapError"]

log = logging.getLogger("anker.messaging")

DEFAULT_TIMEOUT: Final = 60.0


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


class VersionCapError(InvalidTarget):
    """A call asks for a newer API version than the client's ``version_cap`` allows."""


@dataclass(eq=False, slots=True)
class _Pending:
    future: asyncio.Future[tuple[Any, str | None]]
    # what NoResponders names, when the transport says at once that nobody listens
    method: str = "?"
    target: Target | None = None
    timeout: float = 0.0
    last_seen: float = field(default_factory=time.monotonic)
    #: with signing: whether an unsigned reply is taken (a call to an oslo.messaging server)
    unsigned_ok: bool = False


class ReplyRouter(PendingCalls):
    """The transport's one reply queue, and the calls waiting on it by ``_msg_id``."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.queue = ""
        self.pending: dict[str, _Pending] = {}
        self.refusals = Refusals("the RPC client")

    @classmethod
    async def of(cls, transport: Transport) -> ReplyRouter:
        router = transport._reply_router
        if router is None:
            router = cls(transport)
            transport._reply_router = router
            ready = asyncio.get_running_loop().create_future()
            router._ready = ready
            try:
                router.queue = await transport.consume_replies(router.on_reply)
            except BaseException as exc:
                transport._reply_router = None
                ready.set_exception(exc)
                ready.exception()  # retrieved: the waiters below re-raise it
                raise
            ready.set_result(None)
        else:
            assert isinstance(router, ReplyRouter)
            if not router._ready.done():  # the first call is still setting it up
                await asyncio.shield(router._ready)
            else:
                router._ready.result()  # its setup failed: raise that
        return router

    _ready: asyncio.Future[None]

    @property
    def ready(self) -> bool:
        """Whether the reply queue is consumed (set up, and not failed)."""
        ready = self._ready
        return ready.done() and not ready.cancelled() and ready.exception() is None

    def on_reply(self, message: dict[str, Any]) -> None:
        msg_id = str(message.get("_msg_id"))
        pending = self.pending.get(msg_id)
        if pending is None or pending.future.done():
            log.debug("a reply to %s came after its call ended", message.get("_msg_id"))
            return
        signing = self.transport.signing
        if signing is not None:
            problem = signing.problem(
                message, [reply_route(msg_id)], allow_unsigned=pending.unsigned_ok
            )
            if problem is not None:
                self.refusals.refused(problem, "the reply queue", f"a reply to {msg_id}")
                return
        pending.last_seen = time.monotonic()
        if message.get("ending") is False and message.get("result") is None:
            return  # a call-monitor heartbeat: the server is alive and working
        pending.future.set_result((message.get("result"), message.get("failure")))

    def no_responders(self, msg_id: str) -> None:
        pending = self.pending.get(msg_id)
        if pending is not None and not pending.future.done():
            where = "?" if pending.target is None else describe(pending.target)
            pending.future.set_exception(NoResponders(pending.method, where, pending.timeout))

    def fail_all(self, error: Exception) -> None:
        """End every waiting call with ``error`` (the reply queue was lost)."""
        for pending in self.pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)


def _context_entries(context: RequestContext | Mapping[str, Any] | None) -> dict[str, Any]:
    # a call without a context still carries one: a fresh request id to trace it by
    return fresh_context_entries() if context is None else context_entries(context)


class RPCClient:
    """Calls and casts to the servers of a target.

    ::

        client = RPCClient(transport, Target(topic="compute"), timeout=30)
        host = await client.prepare(server="node-1", version="5.1").call(ctx, "get_host")
        await client.cast(ctx, "refresh", force=True)

    ``timeout`` bounds a call; ``call_monitor_timeout`` makes the server send heartbeats
    while it works, so a dead server is seen within that time rather than at the timeout.
    Exceptions of classes in ``allowed_remote_exmods`` (module names) and built-in ones are
    re-raised as themselves; others arrive as :class:`RemoteError`. With a transport that
    signs (``connect(url, signing=...)``) requests are signed and replies must be, unless
    ``allow_unsigned_replies`` (a client of oslo.messaging servers).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        transport: Transport,
        target: Target,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        call_monitor_timeout: float | None = None,
        version_cap: str | None = None,
        serializer: Serializer | None = None,
        allowed_remote_exmods: Iterable[str] = (),
        cast_ttl: float | None = None,
        allow_unsigned_replies: bool = False,
    ) -> None:
        self.transport = transport
        self.target = target
        check_seconds("timeout", timeout)
        self.timeout = float(timeout)
        self.call_monitor_timeout = check_seconds("call_monitor_timeout", call_monitor_timeout)
        self.version_cap = check_version(version_cap) if version_cap is not None else None
        self.serializer: Serializer = serializer or JsonSerializer()
        self.allowed_remote_exmods = frozenset({"anker.messaging", *allowed_remote_exmods})
        self.cast_ttl = check_seconds("cast_ttl", cast_ttl)
        self.allow_unsigned_replies = allow_unsigned_replies

    def __repr__(self) -> str:
        return f"<RPCClient {self.target} timeout={self.timeout:g}>"

    def prepare(
        self,
        *,
        exchange: str | _Unset | None = UNSET,
        topic: str | _Unset | None = UNSET,
        server: str | _Unset | None = UNSET,
        namespace: str | _Unset | None = UNSET,
        version: str | _Unset | None = UNSET,
        fanout: bool | _Unset = UNSET,
        timeout: float | _Unset = UNSET,
        call_monitor_timeout: float | _Unset | None = UNSET,
        cast_ttl: float | _Unset | None = UNSET,
    ) -> RPCClient:
        """A client like this one with some target fields or timeouts changed."""
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("exchange", exchange),
                ("topic", topic),
                ("server", server),
                ("namespace", namespace),
                ("version", version),
                ("fanout", fanout),
            )
            if value is not UNSET
        }
        client = RPCClient.__new__(RPCClient)
        client.__dict__.update(self.__dict__)
        client.target = replace(self.target, **changes)
        if not isinstance(timeout, _Unset):
            check_seconds("timeout", timeout)
            client.timeout = float(timeout)
        if not isinstance(call_monitor_timeout, _Unset):
            client.call_monitor_timeout = check_seconds(
                "call_monitor_timeout", call_monitor_timeout
            )
        if not isinstance(cast_ttl, _Unset):
            client.cast_ttl = check_seconds("cast_ttl", cast_ttl)
        return client

    def can_send_version(self, version: str) -> bool:
        """Whether ``version`` is within the client's ``version_cap`` (always, without one)."""
        return self.version_cap is None or version_is_compatible(self.version_cap, version)

    def _request(
        self, method: str, args: dict[str, Any], entries: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        """The request message for this client's target, signed if the transport signs."""
        message = _wire.request(
            method,
            args,
            entries,
            version=self.target.version,
            namespace=self.target.namespace,
            **extra,
        )
        signing = self.transport.signing
        if signing is None:
            return message
        target = self.target
        route = request_route(
            self.transport.exchange_of(target), target.topic or "", target.server, target.fanout
        )
        return signing.sign(message, route)

    def _arguments(self, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        target = self.target
        target.require_topic(f"sending {method!r}")
        if target.version is not None and not self.can_send_version(target.version):
            raise VersionCapError(
                target, f"version {target.version} is over the version cap {self.version_cap}"
            )
        if type(self.serializer) is JsonSerializer:  # leaves every value as it is
            return kwargs
        return serialize_kwargs(self.serializer, kwargs)

    async def cast(
        self, context: RequestContext | Mapping[str, Any] | None, method: str, /, **kwargs: Any
    ) -> None:
        """Send ``method(**kwargs)`` without waiting for a result.

        Returns once the broker has taken the request (publisher confirm).
        """
        args = self._arguments(method, kwargs)
        entries = _context_entries(context)
        with producer_span(f"cast {method}", "producer", entries):
            message = self._request(method, args, entries)
            await self.transport.send(self.target, message, ttl=self.cast_ttl)

    async def call(
        self, context: RequestContext | Mapping[str, Any] | None, method: str, /, **kwargs: Any
    ) -> Any:
        """Call ``method(**kwargs)`` on one server of the target and return its result.

        Raises :class:`MessagingTimeout` after ``timeout``, :class:`ServerUnresponsive` when
        heartbeats stop for ``call_monitor_timeout``, the remote exception (or
        :class:`RemoteError`) if the method raised.
        """
        if self.target.fanout:
            raise InvalidTarget(self.target, "a call cannot be fanned out; cast instead")
        args = self._arguments(method, kwargs)
        router = self.transport._reply_router
        if not isinstance(router, ReplyRouter) or not router.ready:
            router = await ReplyRouter.of(self.transport)
        msg_id = _wire.new_id()
        entries = _context_entries(context)
        with producer_span(f"call {method}", "client", entries):
            message = self._request(
                method,
                args,
                entries,
                msg_id=msg_id,
                reply_q=router.queue,
                call_monitor_timeout=self.call_monitor_timeout,
            )
            loop = asyncio.get_running_loop()
            pending = _Pending(
                loop.create_future(),
                method,
                self.target,
                self.timeout,
                unsigned_ok=self.allow_unsigned_replies,
            )
            router.pending[msg_id] = pending
            try:
                start = time.monotonic()
                await self.transport.send(self.target, message, ttl=self.timeout)
                result, failure = await self._wait(pending, method, start)
            finally:
                del router.pending[msg_id]
            if failure is not None:
                raise _wire.exception_from_failure(failure, self.allowed_remote_exmods)
        return self.serializer.deserialize(result)

    def _time_out(self, future: asyncio.Future[Any], method: str) -> None:
        if not future.done():
            future.set_exception(MessagingTimeout(method, describe(self.target), self.timeout))

    async def _wait(self, pending: _Pending, method: str, start: float) -> tuple[Any, str | None]:
        deadline = start + self.timeout
        monitor = self.call_monitor_timeout
        if monitor is None:
            # No heartbeats to watch: await the reply itself (asyncio.wait would cost every
            # call another turn of the event loop between the reply and the caller), ended
            # by a timer at the deadline (cheaper than asyncio.timeout, on every call)
            future = pending.future
            timer = asyncio.get_running_loop().call_later(
                deadline - time.monotonic(), self._time_out, future, method
            )
            try:
                return await future
            finally:
                timer.cancel()
        while True:
            now = time.monotonic()
            limit = deadline if monitor is None else min(deadline, pending.last_seen + monitor)
            if now < limit:
                await asyncio.wait([pending.future], timeout=limit - now)
            if pending.future.done():
                return pending.future.result()
            now = time.monotonic()
            if now >= deadline:
                raise MessagingTimeout(method, describe(self.target), self.timeout)
            if monitor is not None and now >= pending.last_seen + monitor:
                raise ServerUnresponsive(
                    method,
                    describe(self.target),
                    monitor,
                    "no reply or heartbeat within call_monitor_timeout: the server is gone",
                )
