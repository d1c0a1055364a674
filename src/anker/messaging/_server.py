"""The serving side of RPC: :class:`RPCServer` dispatches requests to endpoint objects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Sequence
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
from anker.messaging._target import Target, version_is_compatible
from anker.messaging._transport import Incoming, Subscription, Transport

__all__ = ["RPCServer"]

log = logging.getLogger("anker.messaging")

_DEFAULT_ENDPOINT_TARGET: Final = Target()
#: How long a finished request's reply is kept to answer a redelivery of it.
DEDUP_SECONDS: Final = 300.0
DEDUP_ENTRIES: Final = 10_000
#: The largest reply (encoded bytes) kept for answering a redelivery.
MAX_KEPT_REPLY: Final = 64 * 1024
#: How long a reply queue found gone is not logged as gone again (replies are still sent).
GONE_SECONDS: Final = 60.0


def _endpoint_target(endpoint: object) -> Target:
    target = getattr(endpoint, "target", None)
    return target if isinstance(target, Target) else _DEFAULT_ENDPOINT_TARGET


def find_method(
    endpoints: Sequence[object], method: str, namespace: str | None, version: str
) -> Any:
    """The endpoint method a request names, by oslo.messaging's rules.

    Methods whose names start with ``_`` are never callable remotely. The endpoint's
    ``target`` gives its namespace and version (``None`` and ``1.0`` without one).
    """
    if not isinstance(method, str) or not method or method.startswith("_"):
        raise NoSuchMethod(str(method))
    found_any = False
    for endpoint in endpoints:
        target = _endpoint_target(endpoint)
        if target.namespace != namespace:
            continue
        function = getattr(endpoint, method, None)
        if function is None or not callable(function):
            continue
        found_any = True
        if version_is_compatible(target.version or "1.0", version):
            return function
    if found_any:
        raise UnsupportedVersion(version, method)
    raise NoSuchMethod(method)


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
    try:
        return len(_wire.encode(result)) <= MAX_KEPT_REPLY
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
    methods should be idempotent.

    .. versionadded:: 0.1
    """

    __module__ = "anker.messaging"

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
    ) -> None:
        super().__init__(
            transport,
            max_concurrency=max_concurrency,
            executor_threads=executor_threads,
            prefetch=prefetch,
        )
        target.require_topic("an RPC server")
        if target.fanout:
            raise InvalidTarget(target, "a server listens on a topic (and server), not a fanout")
        self.target = target
        self.endpoints = list(endpoints)
        self.serializer: Serializer = serializer or JsonSerializer()
        self._dedup = _Dedup()
        self._gone: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<RPCServer {self.target} {self._state}>"

    async def _subscribe(self) -> Subscription:
        return await self.transport.listen(self.target, self._deliver, prefetch=self.prefetch)

    async def _process(self, incoming: Incoming) -> None:
        message = incoming.message
        unique_id = str(message.get("_unique_id") or "")
        msg_id = message.get("_msg_id")
        reply_q = message.get("_reply_q")
        method = message.get("method")
        if incoming.expired:
            log.info("dropped %r from %s: its time to live ran out", method, incoming.where)
            await incoming.ack()
            return
        if unique_id:
            seen, reply = self._dedup.lookup(unique_id)
            if seen:  # a redelivery of a request this server finished: answer, don't rerun
                if reply is not None and isinstance(reply_q, str):
                    await self._send_reply(reply_q, reply, method)
                await incoming.ack()
                return
            if unique_id in self._dedup.running:  # still running here: settle with it
                self._dedup.running[unique_id].append(incoming)
                return
            self._dedup.running[unique_id] = []
        acked = False
        try:
            await self._dispatch(incoming, unique_id, method, msg_id, reply_q)
            await incoming.ack()
            acked = True
            for copy in self._dedup.running.get(unique_id, ()):
                await copy.ack()
        finally:
            copies = self._dedup.running.pop(unique_id, []) if unique_id else []
            if not acked:  # the original goes back: so do the copies parked behind it
                for copy in copies:
                    self._spawn_settle(self._give_back(copy))

    async def _dispatch(
        self, incoming: Incoming, unique_id: str, method: Any, msg_id: Any, reply_q: Any
    ) -> None:
        """Run the request and send the reply of a call.

        The request counts as finished (for deduplication) before its reply is sent, so a
        redelivery after a failed send is answered again rather than run again.
        """
        is_call = isinstance(msg_id, str) and isinstance(reply_q, str)
        message = incoming.message
        heartbeat: asyncio.Task[None] | None = None
        if is_call:
            interval = _heartbeat_interval(message.get("_timeout"))
            if interval is not None:
                heartbeat = asyncio.get_running_loop().create_task(
                    self._heartbeat(reply_q, msg_id, interval, method)
                )
        try:
            result = await self._run(incoming, method)
            reply = _wire.reply(msg_id, result=result) if is_call else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_call:
                log.warning(
                    "cast %r from %s raised %s: %s", method, incoming.where, type(exc).__name__, exc
                )
                reply = None
            else:
                reply = _wire.reply(msg_id, failure=_wire.failure_from_exception(exc))
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(BaseException):
                    await heartbeat
        if unique_id:
            self._dedup.finished(unique_id, reply)
        if reply is not None:
            await self._reply(unique_id, reply_q, msg_id, reply, method)

    async def _reply(
        self, unique_id: str, reply_q: str, msg_id: str, reply: dict[str, Any], method: Any
    ) -> None:
        try:
            await self._send_reply(reply_q, reply, method)
        except (SerializationError, MessageTooLarge) as exc:
            # the result cannot travel: tell the caller why (the method is not run again)
            failure = _wire.reply(msg_id, failure=_wire.failure_from_exception(exc))
            if unique_id:
                self._dedup.finished(unique_id, failure)
            try:
                await self._send_reply(reply_q, failure, method)
            except (SerializationError, MessageTooLarge):
                log.error("the reply to %r could not be sent in any form; dropped", method)

    async def _run(self, incoming: Incoming, method: Any) -> Any:
        message = incoming.message
        args = message.get("args", {})
        if not isinstance(args, dict):
            raise InvalidMessage(incoming.where, "'args' is not an object", message.get("_msg_id"))
        version = message.get("version") or "1.0"
        namespace = message.get("namespace")
        function = find_method(self.endpoints, method, namespace, str(version))
        context = RequestContext.from_message(message)
        kwargs = {str(name): self.serializer.deserialize(value) for name, value in args.items()}
        result = await self._invoke(function, context, **kwargs)
        return self.serializer.serialize(result)

    async def _heartbeat(self, reply_q: str, msg_id: str, interval: float, method: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):  # a missed heartbeat is not worth failing for
                await self._send_reply(reply_q, _wire.reply(msg_id, ending=False), method)

    async def _send_reply(self, reply_q: str, reply: dict[str, Any], method: Any) -> None:
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
    """oslo.messaging's rule: a heartbeat every ``int(timeout) / 2`` s, none under 1 s."""
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        return None
    if not math.isfinite(timeout):  # NaN or Infinity from a peer: no heartbeats
        return None
    interval = int(timeout) / 2
    return interval if interval >= 1 else None
