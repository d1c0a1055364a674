"""The serving side of RPC: :class:`RPCServer` dispatches requests to endpoint objects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from anker.messaging import _wire
from anker.messaging._context import RequestContext
from anker.messaging._errors import (
    InvalidMessage,
    InvalidTarget,
    MessageTooLarge,
    NoSuchMethod,
    SerializationError,
    UnsupportedVersion,
)
from anker.messaging._serializer import JsonSerializer, Serializer
from anker.messaging._serving import Consumer
from anker.messaging._signing import key_of, reply_route, request_route
from anker.messaging._target import Target, check_version, version_is_compatible
from anker.messaging._transport import Incoming, Subscription, Transport

__all__ = ["RPCServer"]

log = logging.getLogger("anker.messaging")

_DEFAULT_ENDPOINT_TARGET: Final = Target()
#: How long a finished request's reply is kept to answer a redelivery of it.
DEDUP_SECONDS: Final = 300.0
DEDUP_ENTRIES: Final = 10_000
#: The largest reply (encoded bytes) kept for answering a redelivery.
MAX_KEPT_REPLY: Final = 64 * 1024
#: The most (method, namespace, version) lookups remembered per server.
MAX_CACHED_METHODS: Final = 1024
#: How long a reply queue found gone is not logged as gone again (replies are still sent).
GONE_SECONDS: Final = 60.0


def _endpoint_target(endpoint: object) -> Target:
    target = getattr(endpoint, "target", None)
    return target if isinstance(target, Target) else _DEFAULT_ENDPOINT_TARGET


def find_method(
    endpoints: Sequence[object], method: str, namespace: str | None, version: str
) -> Any:
    """The endpoint method a request names, by oslo.messaging's dispatcher rules.

    The endpoints that serve the namespace at a compatible version are searched for the
    method; if there are some but none has it, that is :class:`NoSuchMethod`, and if there
    are none (an unknown namespace, a version no endpoint serves), :class:`UnsupportedVersion`
    whether or not the method exists anywhere: an oslo caller sees the same error from an
    anker server as from an oslo one. Methods whose names start with ``_`` are never callable
    remotely. The endpoint's ``target`` gives its namespace and version (``None`` and ``1.0``
    without one).
    """
    found_compatible = False
    for endpoint in endpoints:
        target = _endpoint_target(endpoint)
        if target.namespace != namespace or not version_is_compatible(
            target.version or "1.0", version
        ):
            continue
        found_compatible = True
        if method.startswith("_"):
            continue
        function = getattr(endpoint, method, None)
        if function is not None and callable(function):
            return function
    if found_compatible:
        raise NoSuchMethod(method)
    raise UnsupportedVersion(version, method)


@dataclass(frozen=True, slots=True)
class Request:
    """The fields of a request that a server acts on, each read and checked."""

    method: str
    args: dict[str, Any]
    version: str
    namespace: str | None
    context: RequestContext
    heartbeat: float | None  # seconds between call-monitor heartbeats; None: none


def read_reply_to(message: Mapping[str, Any], where: str) -> tuple[str, str] | None:
    """A call's ``(_msg_id, _reply_q)``, or ``None`` for a cast (no ``_msg_id``, as oslo
    reads it). An :class:`InvalidMessage` if the caller of a call cannot be answered."""
    msg_id = message.get("_msg_id")
    if msg_id is None:
        return None
    if not isinstance(msg_id, str) or not msg_id:
        raise _malformed(where, "_msg_id", "a non-empty string", msg_id, None)
    reply_q = message.get("_reply_q")
    if not isinstance(reply_q, str) or not _queue_name(reply_q):
        raise _malformed(where, "_reply_q", "a queue name", reply_q, msg_id)
    return msg_id, reply_q


def read_request(message: Mapping[str, Any], where: str) -> Request:
    """The fields of a request; an :class:`InvalidMessage` names the first malformed one."""
    msg_id = message.get("_msg_id")
    msg_id = msg_id if isinstance(msg_id, str) else None
    method = message.get("method")
    if not isinstance(method, str) or not method:
        raise _malformed(where, "method", "a method name", method, msg_id)
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise _malformed(where, "args", "an object", args, msg_id)
    version = message.get("version")
    if version is None:
        version = "1.0"  # oslo's default for a request that names none
    elif not isinstance(version, str) or not _is_version(version):
        raise _malformed(where, "version", "a version such as '1.3'", version, msg_id)
    namespace = message.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise _malformed(where, "namespace", "a string or null", namespace, msg_id)
    try:
        heartbeat = _heartbeat_interval(message.get("_timeout"))
    except ValueError as exc:
        raise _malformed(where, "_timeout", str(exc), message.get("_timeout"), msg_id) from None
    try:
        context = RequestContext.from_message(message)
    except ValueError as exc:
        raise InvalidMessage(where, str(exc), msg_id) from None
    return Request(method, args, version, namespace, context, heartbeat)


def _is_version(version: str) -> bool:
    try:
        check_version(version)
    except ValueError:
        return False
    return True


def _queue_name(name: str) -> bool:
    # AMQP names are at most 255 bytes of UTF-8
    try:
        return 0 < len(name.encode("utf-8")) <= 255
    except UnicodeEncodeError:
        return False


def _malformed(
    where: str, field: str, expected: str, value: object, msg_id: str | None
) -> InvalidMessage:
    return InvalidMessage(where, f"{field!r} must be {expected}, not {_shown(value)}", msg_id)


def _shown(value: object) -> str:
    """A peer's value for a log line or an error: its type and the start of its repr."""
    if value is None:
        return "null"
    try:
        text = repr(value)
    except Exception:
        text = "?"
    if len(text) > 40:
        text = text[:37] + "..."
    return text if isinstance(value, str) else f"{type(value).__name__} {text}"


class _Dedup:
    """Requests finished lately, by ``_unique_id``, with the reply each got."""

    def __init__(self) -> None:
        self._done: OrderedDict[str, tuple[float, dict[str, Any] | None]] = OrderedDict()
        self.running: dict[str, list[Incoming]] = {}

    def finished(self, unique_id: str, reply: dict[str, Any] | None) -> None:
        now = time.monotonic()
        if reply is not None and not _small(reply):
            reply = None  # kept as seen, not answered again: memory stays bounded
        self._done[unique_id] = (now, reply)
        self._done.move_to_end(unique_id)
        while self._done and (
            len(self._done) > DEDUP_ENTRIES
            or next(iter(self._done.values()))[0] < now - DEDUP_SECONDS
        ):
            self._done.popitem(last=False)

    def lookup(self, unique_id: str) -> tuple[bool, dict[str, Any] | None]:
        entry = self._done.get(unique_id)
        return (False, None) if entry is None else (True, entry[1])


def _small(reply: dict[str, Any]) -> bool:
    """Whether a reply is small enough to keep for answering a redelivery."""
    result, failure = reply.get("result"), reply.get("failure")
    if failure is not None:
        return len(failure) <= MAX_KEPT_REPLY
    if result is None or isinstance(result, (bool, int, float)):
        return True
    if isinstance(result, str):
        return len(result) <= MAX_KEPT_REPLY
    try:  # the size as sent, give or take how a NaN is spelled: one encode, not a second send
        return len(_wire.encode_for_size(result)) <= MAX_KEPT_REPLY
    except SerializationError:
        return False


class RPCServer(Consumer):
    """Serves the requests of a target with a list of endpoint objects.

    ::

        class ComputeAPI:
            target = Target(namespace="compute", version="5.1")

            async def get_host(self, context: RequestContext, *, name: str) -> str: ...
            def resize(self, context: RequestContext, *, flavor: str) -> None: ...  # in a thread

        server = RPCServer(transport, Target(topic="compute", server="node-1"), [ComputeAPI()])
        await server.start()
        ...
        await server.stop()  # drains: in-flight calls finish and reply

    Requests are acknowledged after the method ran and its reply was sent (at least once):
    a server that dies mid-call leaves the request to another server. A redelivered request
    this server finished already is answered from memory, not run again; across servers,
    methods should be idempotent. With a signing transport, requests without a valid
    signature for this target are refused before dispatch (``allow_unsigned=True`` takes
    unsigned ones: callers on oslo.messaging), and replies are signed. The method a request
    names is looked up once and remembered, until ``endpoints`` is given new ones.

    .. versionadded:: 0.1
    """

    span_kind = "server"

    def __init__(
        self,
        transport: Transport,
        target: Target,
        endpoints: Sequence[object],
        *,
        serializer: Serializer | None = None,
        max_concurrency: int = 64,
        executor_threads: int = 16,
        prefetch: int | None = None,
        allow_unsigned: bool = False,
    ) -> None:
        super().__init__(
            transport,
            max_concurrency=max_concurrency,
            executor_threads=executor_threads,
            prefetch=prefetch,
            allow_unsigned=allow_unsigned,
        )
        target.require_topic("an RPC server")
        if target.fanout:
            raise InvalidTarget(target, "a server listens on a topic (and server), not a fanout")
        self.target = target
        self.endpoints = endpoints  # (the setter: the method cache starts empty)
        self.serializer: Serializer = serializer or JsonSerializer()
        self._dedup = _Dedup()
        self._gone: dict[str, float] = {}
        #: the key each call being handled was signed with, by its ``_msg_id``
        self._reply_keys: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<RPCServer {self.target} {self._state}>"

    @property
    def endpoints(self) -> tuple[object, ...]:
        """The endpoint objects requests are dispatched to."""
        return self._endpoints

    @endpoints.setter
    def endpoints(self, endpoints: Sequence[object]) -> None:
        self._endpoints = tuple(endpoints)
        #: the endpoint method of each (method, namespace, version) asked for, so that a
        #: request does not search the endpoints again
        self._methods: dict[tuple[str, str | None, str], Any] = {}

    async def _subscribe(self) -> Subscription:
        return await self.transport.listen(self.target, self._deliver, prefetch=self.prefetch)

    async def _process(self, incoming: Incoming) -> None:
        message = incoming.message
        unique_id = str(message.get("_unique_id") or "")
        method = message.get("method")
        if incoming.expired:
            log.info("dropped %s from %s: its time to live ran out", _shown(method), incoming.where)
            await incoming.ack()
            return
        if self.transport.signing is not None and await self._refused(incoming, self._routes()):
            return
        msg_id = str(message.get("_msg_id") or "")
        kid = key_of(message)
        # the replies are signed with the request's key (a redelivered copy finds it set)
        owned = kid is not None and bool(msg_id) and msg_id not in self._reply_keys
        if owned:
            self._reply_keys[msg_id] = str(kid)
        try:
            await self._answer(incoming, message, unique_id, method)
        finally:
            if owned:
                self._reply_keys.pop(msg_id, None)

    async def _answer(
        self, incoming: Incoming, message: dict[str, Any], unique_id: str, method: Any
    ) -> None:
        try:
            reply_to = read_reply_to(message, incoming.where)
        except InvalidMessage as exc:  # a call that cannot be answered: do not run it blind
            log.warning("rejected a call that cannot be answered: %s", exc)
            await incoming.reject()
            return
        reply_q = reply_to[1] if reply_to is not None else None
        if unique_id:
            seen, reply = self._dedup.lookup(unique_id)
            if seen:  # a redelivery of a request this server finished: answer, don't rerun
                if reply is not None and reply_q is not None:
                    await self._send_reply(reply_q, reply, method)
                await incoming.ack()
                return
            if unique_id in self._dedup.running:  # still running here: settle with it
                self._dedup.running[unique_id].append(incoming)
                return
            self._dedup.running[unique_id] = []
        settled = False
        try:
            readable = await self._dispatch(incoming, unique_id, method, reply_to)
            for each in (incoming, *self._dedup.running.get(unique_id, ())):
                await (each.ack() if readable else each.reject())
            settled = True
        finally:
            copies = self._dedup.running.pop(unique_id, []) if unique_id else []
            if not settled:  # the original goes back: so do the copies parked behind it
                for copy in copies:
                    self._spawn_settle(self._give_back(copy))

    async def _dispatch(
        self, incoming: Incoming, unique_id: str, method: Any, reply_to: tuple[str, str] | None
    ) -> bool:
        """Run the request and send the reply of a call; False for a cast that cannot be
        read (to be rejected, as a call that cannot be read is answered with the error).

        The request counts as finished (for deduplication) before its reply is sent, so a
        redelivery after a failed send is answered again rather than run again.
        """
        heartbeat: asyncio.Task[None] | None = None
        readable = True
        reply: dict[str, Any] | None = None
        try:
            # every field is read inside this try: whatever is wrong with one is an answer
            request = read_request(incoming.message, incoming.where)
            if reply_to is not None and request.heartbeat is not None:
                heartbeat = asyncio.get_running_loop().create_task(
                    self._heartbeat(reply_to[1], reply_to[0], request.heartbeat, method)
                )
            result = await self._run(request)
            if reply_to is not None:
                reply = _wire.reply(reply_to[0], result=result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if reply_to is not None:
                reply = _wire.reply(reply_to[0], failure=_wire.failure_from_exception(exc))
            elif isinstance(exc, InvalidMessage):
                log.warning("rejected a cast that cannot be read: %s", exc)
                readable = False
            else:
                log.warning(
                    "cast %s from %s raised %s: %s",
                    _shown(method),
                    incoming.where,
                    type(exc).__name__,
                    _wire.text_of(exc),
                )
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(BaseException):
                    await heartbeat
        if unique_id:
            self._dedup.finished(unique_id, reply)
        if reply_to is not None and reply is not None:
            await self._reply(unique_id, reply_to[1], reply_to[0], reply, method)
        return readable

    async def _reply(
        self, unique_id: str, reply_q: str, msg_id: str, reply: dict[str, Any], method: Any
    ) -> None:
        try:
            await self._send_reply(reply_q, reply, method)
        except (SerializationError, MessageTooLarge) as exc:
            # the result cannot travel: tell the caller why (the method is not run again),
            # naming the method rather than the transport's reply queue
            if isinstance(exc, MessageTooLarge):
                exc = exc.renamed(f"the result of {_shown(method)}")
            failure = _wire.reply(msg_id, failure=_wire.failure_from_exception(exc))
            if unique_id:
                self._dedup.finished(unique_id, failure)
            try:
                await self._send_reply(reply_q, failure, method)
            except (SerializationError, MessageTooLarge):
                log.error("the reply to %s could not be sent in any form; dropped", _shown(method))

    async def _run(self, request: Request) -> Any:
        key = (request.method, request.namespace, request.version)
        function = self._methods.get(key)
        if function is None:
            function = find_method(self.endpoints, *key)
            if len(self._methods) < MAX_CACHED_METHODS:  # peers choose what they ask for
                self._methods[key] = function
        kwargs = {name: self.serializer.deserialize(value) for name, value in request.args.items()}
        result = await self._invoke(function, request.context, **kwargs)
        return self.serializer.serialize(result)

    async def _heartbeat(self, reply_q: str, msg_id: str, interval: float, method: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):  # a missed heartbeat is not worth failing for
                await self._send_reply(reply_q, _wire.reply(msg_id, ending=False), method)

    def _routes(self) -> list[str]:
        """The routes a request for this server may have been signed for."""
        exchange = self.transport.exchange_of(self.target)
        topic, server = self.target.topic or "", self.target.server
        return [
            request_route(exchange, topic, None, False),
            request_route(exchange, topic, None, True),
            *([request_route(exchange, topic, server, False)] if server else []),
        ]

    async def _send_reply(self, reply_q: str, reply: dict[str, Any], method: Any) -> None:
        signing = self.transport.signing
        if signing is not None:
            msg_id = str(reply.get("_msg_id"))
            reply = signing.sign(reply, reply_route(msg_id), kid=self._reply_keys.get(msg_id))
        # Always sent: a queue found gone may be back (its caller redeclares it after a broker
        # restart), and skipping it would time that caller's next calls out silently.
        if await self.transport.send_reply(reply_q, reply):
            self._gone.pop(reply_q, None)
            return
        # The caller is gone (or its broker lost the queue): say so once, not per reply.
        now = time.monotonic()
        gone_since = self._gone.get(reply_q)
        if gone_since is None or now - gone_since >= GONE_SECONDS:
            # forget the queues of callers long gone, so the record cannot grow without bound
            for name, since in list(self._gone.items()):
                if now - since >= GONE_SECONDS:
                    del self._gone[name]
            log.warning(
                "the reply to %r was dropped: reply queue %s no longer exists (the caller is gone)",
                method,
                reply_q,
            )
            self._gone[reply_q] = now


def _heartbeat_interval(timeout: Any) -> float | None:
    """oslo.messaging's rule: a heartbeat every ``int(timeout) / 2`` s, none under 1 s.

    ``None`` (the caller watches no heartbeats) and a timeout too large for a float
    (``Infinity``, ``1e400`` written out) mean no heartbeats; anything but a number of
    seconds, zero or more, is a ``ValueError``.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValueError("a number of seconds or null")
    try:
        if timeout < 0 or math.isnan(timeout):
            raise ValueError("a number of seconds, zero or more, or null")
        interval = int(timeout) / 2
    except OverflowError:  # past any float: the caller waits longer than a call can run
        return None
    return interval if interval >= 1 else None
