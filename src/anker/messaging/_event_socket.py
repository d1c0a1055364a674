"""The WebSocket side of :class:`~anker.messaging.EventStream`: the same events, as JSON text
messages, for clients that would rather hold a WebSocket than read Server-Sent Events.

A client opens the stream's URL with ``ws://`` (``wss://`` behind TLS). The handshake is
authorized as a stream request is (its headers and query; a browser's ``WebSocket`` cannot set
headers, so a token comes in the query or a cookie) and takes the same ``?types=`` filter;
``?last_event_id=`` (or a ``Last-Event-ID`` header) resumes after the last event the client
saw. Each event is one text message, ``{"id": ..., "event": <event type>, "data": {...}}``,
``data`` being the Server-Sent Event's. A refused caller is answered with the refusal's HTTP
status (401, 403, 400, 503) where the server can answer a handshake with one (uvicorn can),
else the handshake is refused (403). The server closes the socket with 1012 (service restart)
when the stream drains, and with 1013 (try again later) when the client fell ``queue``
events behind: either way, the client reconnects with the last id it saw. What the client
sends is read and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from anker.messaging._events import (
    EventStream,
    SubscriptionRefused,
    _Event,
    _request_of,
    _Subscription,
)

__all__ = ["serve_websocket"]

#: close codes (RFC 6455 and the IANA registry): the stream stops; the client fell behind
SERVICE_RESTART, TRY_AGAIN_LATER = 1012, 1013


async def serve_websocket(stream: EventStream, scope: Any, receive: Any, send: Any) -> None:
    """Serve one WebSocket connection of ``stream`` (an ASGI ``websocket`` scope)."""
    if (await receive())["type"] != "websocket.connect":
        return
    headers, query = _request_of(scope)
    try:
        project, types = await stream.admit(headers, query)
    except SubscriptionRefused as refused:
        await _refuse(scope, send, refused)
        return
    subscription = stream.subscribe(project, types)
    # what it missed is read as it subscribes: an event from now on is in its queue instead
    backlog = stream.missed(
        subscription, query.get("last_event_id") or headers.get("last-event-id", "")
    )
    try:
        await send({"type": "websocket.accept", "headers": [(b"cache-control", b"no-store")]})
        for event in backlog:
            await send(_message(stream, event))
        ending = await _relay(stream, subscription, receive, send)
    except OSError:  # the client went away while it was being sent to
        return
    finally:
        stream.unsubscribe(subscription)
    if ending is not None:
        code, reason = ending
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": "websocket.close", "code": code, "reason": reason})


async def _relay(
    stream: EventStream, subscription: _Subscription, receive: Any, send: Any
) -> tuple[int, str] | None:
    """Send the subscription's events until the client leaves (None) or the stream ends it
    (the close code and reason)."""
    gone = asyncio.ensure_future(_client_closed(receive))
    try:
        while True:
            getter = asyncio.ensure_future(subscription.queue.get())
            await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                return None
            event = getter.result()
            if event is None:
                if subscription.overflowed:
                    return TRY_AGAIN_LATER, "fell too far behind: reconnect to resume"
                return SERVICE_RESTART, "the event stream is stopping: reconnect"
            await send(_message(stream, event))
    finally:
        gone.cancel()


async def _client_closed(receive: Any) -> None:
    while (await receive())["type"] != "websocket.disconnect":
        pass  # what a client sends is not read


def _message(stream: EventStream, event: _Event) -> dict[str, Any]:
    text = b'{"id":"%s","event":%s,"data":%s}' % (
        stream.event_id(event).encode(),
        orjson.dumps(event.event_type),
        event.data,
    )
    return {"type": "websocket.send", "text": text.decode()}


async def _refuse(scope: Any, send: Any, refused: SubscriptionRefused) -> None:
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": refused.status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": f"{refused}\n".encode()})
    else:  # closed before it was accepted: the server refuses the handshake (403)
        await send({"type": "websocket.close", "code": 1008})
