"""Notifications delivered to users as Server-Sent Events or over a WebSocket: an ASGI app a
dashboard subscribes to (``new EventSource(url)``, ``new WebSocket(url)``) instead of polling.

Each caller is authorized by a callable of the service's (headers and query in, a project id
out, or a refusal); a caller only ever receives the notifications of that project. Events are
numbered; a client that reconnects with ``Last-Event-ID`` (browsers do it on their own for
Server-Sent Events; ``?last_event_id=`` on a WebSocket) gets what it missed from a bounded
replay buffer, or a ``gap`` event saying it cannot.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import inspect
import logging
import secrets
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from anker.messaging._listener import NotificationListener
from anker.messaging._target import Target

if TYPE_CHECKING:
    from anker.messaging._transport import Transport

__all__ = ["EventStream", "Subscriber", "SubscriptionRefused"]

log = logging.getLogger("anker.messaging.events")

_PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")
#: the most event types a caller may filter on, and the longest pattern
MAX_TYPES, MAX_PATTERN = 32, 255


class SubscriptionRefused(Exception):
    """Raised by an authorizer: the caller may not subscribe (``status``: 401 or 403)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Subscriber:
    """What an authorizer is given: the request's headers (lower-case names) and query."""

    headers: Mapping[str, str]
    query: Mapping[str, str]


Authorizer = Callable[[Subscriber], "str | Awaitable[str]"]


@dataclass(frozen=True)
class _Event:
    seq: int
    project: str
    event_type: str
    data: bytes  # the JSON document sent as the event's data


class _Subscription:
    def __init__(self, project: str, types: tuple[str, ...], size: int) -> None:
        self.project = project
        self.types = types
        self.queue: asyncio.Queue[_Event | None] = asyncio.Queue(size)
        self.overflowed = False

    def wants(self, event: _Event) -> bool:
        if event.project != self.project:
            return False
        return not self.types or any(fnmatch.fnmatchcase(event.event_type, t) for t in self.types)

    def offer(self, event: _Event) -> None:
        if self.overflowed:
            return  # it is being disconnected
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # a client that cannot keep up is disconnected; it resumes from the buffer
            self.overflowed = True
            self.end()

    def end(self) -> None:
        """End the stream after the events queued for it, or, if its queue is full, at once:
        what is dropped then comes after the last event the client got, so it is what a
        resume from that event's id replays (or reports as a gap)."""
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class _Sink:
    """The listener's endpoint: every priority goes to one coroutine."""

    def __init__(self, receive: Callable[..., Awaitable[None]]) -> None:
        self.receive = receive


def _forward(priority: str) -> Callable[..., Awaitable[None]]:
    async def forward(self: _Sink, *args: Any) -> None:
        await self.receive(priority.upper(), args)  # as oslo's messages spell it: INFO

    return forward


for _priority in _PRIORITIES:
    setattr(_Sink, _priority, _forward(_priority))


def _project_of(context: Any, payload: Any) -> str | None:
    """The project a notification belongs to: its request context's, else the payload's
    ``project_id`` (or ``tenant_id``, as older OpenStack payloads say)."""
    project = getattr(context, "project_id", None)
    if project:
        return str(project)
    if isinstance(payload, Mapping):
        for key in ("project_id", "tenant_id"):
            if payload.get(key):
                return str(payload[key])
    return None


class EventStream:
    """An ASGI app streaming the notifications on ``targets`` to authorized callers, each
    receiving its own project's only, as Server-Sent Events or over a WebSocket::

        async def authorize(subscriber: Subscriber) -> str:
            token = subscriber.headers.get("x-auth-token", "")
            return await keystone.project_of(token)  # or raise SubscriptionRefused("...")

        stream = EventStream(transport, authorize)
        service.add(stream)                           # listens while the service runs
        app = Starlette(routes=[Mount("/events", stream)])

    ``GET`` with ``Accept: text/event-stream``; ``?types=compute.instance.*,volume.create.end``
    filters by event type (shell-style patterns). Each event's ``id`` is this stream's
    instance token and a number, its ``event`` the notification's event type, its ``data``
    a JSON object (``event_type``, ``publisher_id``, ``priority``, ``payload``,
    ``timestamp``, ``message_id``). A client reconnecting with ``Last-Event-ID`` first gets
    what it missed, if the last ``replay`` events still hold it, else a ``gap`` event.
    A WebSocket handshake on the same URL gets the same events, each a JSON text message
    ``{"id": ..., "event": ..., "data": {...}}``, resumed with ``?last_event_id=``; a refused
    handshake gets the refusal's HTTP status; the socket closes with 1012 when the stream
    drains and 1013 when the client fell ``queue`` events behind (needs
    ``pip install 'anker[events]'``).

    ``project_of(context, payload)`` says which project a notification belongs to (default:
    the context's ``project_id``, else the payload's ``project_id`` or ``tenant_id``); one
    that belongs to none is sent to nobody. Every stream listens in a pool of its own, so
    each instance of a service sees every notification. ``queue`` bounds what one slow
    client may fall behind; past it the client is disconnected (and resumes on reconnect).
    """

    name = "event-stream"

    def __init__(
        self,
        transport: Transport,
        authorize: Authorizer,
        *,
        targets: Sequence[Target] = (Target(topic="notifications"),),
        project_of: Callable[[Any, Any], str | None] = _project_of,
        replay: int = 1000,
        queue: int = 1000,
        keepalive: float = 15.0,
    ) -> None:
        if replay < 0 or queue < 1 or keepalive <= 0:
            raise ValueError("EventStream: replay >= 0, queue >= 1 and keepalive > 0")
        self.authorize = authorize
        self.project_of = project_of
        self.keepalive = keepalive
        self.queue_size = queue
        #: tells this instance's event ids apart from another's (or a restarted one's)
        self.token = secrets.token_hex(4)
        self._seq = 0
        self._buffer: deque[_Event] = deque(maxlen=replay)
        self._subscribers: set[_Subscription] = set()
        self._closing = asyncio.Event()
        self.listener = NotificationListener(
            transport,
            list(targets),
            [_Sink(self._receive)],
            pool=f"anker-events-{uuid.uuid4().hex[:12]}",
        )

    def __repr__(self) -> str:
        return f"<EventStream {self.token} subscribers={len(self._subscribers)}>"

    # -- the component: listening ---------------------------------------------------------

    async def start(self) -> None:
        """Start listening for notifications."""
        self._closing.clear()
        await self.listener.start()

    async def drain(self, deadline: float) -> None:
        """Stop listening and end every stream (clients reconnect to another instance)."""
        self._closing.set()
        for subscription in list(self._subscribers):
            subscription.end()
        await self.listener.stop(deadline)

    def in_flight(self) -> list[str]:
        """The streams open now, in words."""
        count = len(self._subscribers)
        return [f"{count} event stream(s) open"] if count else []

    async def stop(self) -> None:
        """Stop (the same as a drain with no time left)."""
        await self.drain(0.0)

    async def __aenter__(self) -> EventStream:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _receive(self, priority: str, message: tuple[Any, ...]) -> None:
        context, publisher_id, event_type, payload, metadata = message
        project = self.project_of(context, payload)
        if project is None:
            return
        self._seq += 1
        document = {
            "event_type": event_type,
            "publisher_id": publisher_id,
            "priority": priority,
            "payload": payload,
            "timestamp": metadata.get("timestamp"),
            "message_id": metadata.get("message_id"),
        }
        event = _Event(self._seq, project, event_type, orjson.dumps(document, default=str))
        self._buffer.append(event)
        for subscription in list(self._subscribers):
            if subscription.wants(event):
                subscription.offer(event)

    # -- the ASGI app: streaming ----------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            from anker.messaging._event_socket import serve_websocket  # it imports this module

            await serve_websocket(self, scope, receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, "use GET\n", [(b"allow", b"GET")])
            return
        headers, query = _request_of(scope)
        try:
            project, types = await self.admit(headers, query)
        except SubscriptionRefused as refused:
            await _answer(send, refused.status, f"{refused}\n")
            return
        subscription = self.subscribe(project, types)
        # what it missed is read as it subscribes: an event from now on is in its queue instead
        backlog = self.missed(subscription, headers.get("last-event-id", ""))
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-store"),
                        (b"x-accel-buffering", b"no"),  # proxies: pass each event at once
                    ],
                }
            )
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            await self._stream(subscription, backlog, receive, send)
        finally:
            self.unsubscribe(subscription)

    async def admit(
        self, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> tuple[str, tuple[str, ...]]:
        """The project and event-type patterns of a caller; :class:`SubscriptionRefused`
        (with its HTTP status) if it may not subscribe, asks for a bad filter, or the stream
        is stopping."""
        project = await self._authorized(Subscriber(headers, query))
        types = _types(query.get("types", ""))
        if self._closing.is_set():
            raise SubscriptionRefused("the event stream is stopping; reconnect", 503)
        return project, types

    def subscribe(self, project: str, types: tuple[str, ...]) -> _Subscription:
        """A new subscriber's queue, offered every event it wants until :meth:`unsubscribe`."""
        subscription = _Subscription(project, types, self.queue_size)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: _Subscription) -> None:
        """Stop offering events to ``subscription`` (its client left)."""
        self._subscribers.discard(subscription)

    async def _authorized(self, subscriber: Subscriber) -> str:
        try:
            found = self.authorize(subscriber)
            project = await found if inspect.isawaitable(found) else found
        except SubscriptionRefused:
            raise
        except Exception as failed:
            log.warning("event stream: the authorizer failed: %r", failed)
            raise SubscriptionRefused("authorization failed", 503) from failed
        if not isinstance(project, str) or not project:
            raise SubscriptionRefused("no project for this caller", 403)
        return project

    async def _stream(
        self, subscription: _Subscription, backlog: list[_Event], receive: Any, send: Any
    ) -> None:
        body = b"retry: 2000\n\n" + b"".join(self._frame(event) for event in backlog)
        await send({"type": "http.response.body", "body": body, "more_body": True})
        disconnected = asyncio.ensure_future(_disconnect(receive))
        try:
            while not disconnected.done():
                getter = asyncio.ensure_future(subscription.queue.get())
                done, _ = await asyncio.wait(
                    {getter, disconnected},
                    timeout=self.keepalive,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if getter not in done:
                    getter.cancel()
                    if not disconnected.done():
                        chunk = b": keep-alive\n\n"
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    continue
                event = getter.result()
                if event is None:  # draining, or this client fell too far behind
                    break
                frame = self._frame(event)
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        finally:
            disconnected.cancel()
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def missed(self, subscription: _Subscription, last: str) -> list[_Event]:
        """The buffered events after ``last`` (an event id this client saw) it wants."""
        if not last:
            return []
        token, _, number = last.rpartition("-")
        if token != self.token or not number.isdigit():
            return [self._gap(subscription, "a restarted or another instance")]
        seen = int(number)
        oldest = self._buffer[0].seq if self._buffer else self._seq + 1
        missed = [e for e in self._buffer if e.seq > seen and subscription.wants(e)]
        if seen + 1 < oldest and self._seq > seen:
            return [self._gap(subscription, "older than the replay buffer"), *missed]
        return missed

    def _gap(self, subscription: _Subscription, why: str) -> _Event:
        data = orjson.dumps({"reason": f"events may have been missed: {why}"})
        return _Event(self._seq, subscription.project, "gap", data)

    def event_id(self, event: _Event) -> str:
        """The id a client sees for ``event`` (and resumes after): this instance's token
        and the event's number."""
        return f"{self.token}-{event.seq}"

    def _frame(self, event: _Event) -> bytes:
        kind = event.event_type.replace("\n", " ").replace("\r", " ")
        return b"id: %s-%d\nevent: %s\ndata: %s\n\n" % (
            self.token.encode(),
            event.seq,
            kind.encode(),
            event.data,
        )


async def _disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _answer(
    send: Any, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    extra = headers or []
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *extra],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})


def _request_of(scope: Any) -> tuple[dict[str, str], dict[str, str]]:
    """A request's headers (lower-case names) and query."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return headers, _query(scope.get("query_string", b""))


def _query(raw: bytes) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def _types(text: str) -> tuple[str, ...]:
    """The ``types`` filter: comma-separated shell-style patterns (none: every type)."""
    patterns = tuple(p.strip() for p in text.split(",") if p.strip())
    if len(patterns) > MAX_TYPES or any(len(p) > MAX_PATTERN for p in patterns):
        raise SubscriptionRefused(
            f"types: at most {MAX_TYPES} patterns of {MAX_PATTERN} characters", 400
        )
    return patterns
