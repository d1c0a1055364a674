"""The endpoints as pure ASGI: an app, and a middleware in front of a service's app.

Pure ASGI (no Starlette import): any ASGI server and framework can use them, and the
service's own requests pass through the middleware untouched (not buffered, as Starlette's
``BaseHTTPMiddleware`` would).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

from anker.health._exposure import Exposure
from anker.health._http import Answer, Request, answer, group_of
from anker.health._registry import Health

__all__ = ["HealthApp", "HealthMiddleware"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]


class HealthApp:
    """An ASGI app serving ``/livez``, ``/readyz``, ``/startupz``, ``/healthz`` and
    ``/health/<group>`` (404 elsewhere)::

        app = HealthApp(health, Exposure.of(["ready"]))

    With ``manage=True`` it starts the registry's refresher on ASGI lifespan startup and
    stops it on shutdown (what the standalone server does); otherwise the service does.

    .. versionadded:: 0.1
    """

    def __init__(
        self, health: Health, exposure: Exposure | None = None, *, manage: bool = False
    ) -> None:
        self.health = health
        self.exposure = exposure or Exposure()
        self.manage = manage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: nothing to serve; closing the scope refuses it
        if not group_of(scope["path"])[0]:
            await _send(send, Answer(404, (("content-type", "text/plain"),), b"not found\n"))
            return
        await serve_health(self.health, self.exposure, scope, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.manage:
                    await self.health.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.manage:
                    await self.health.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


class HealthMiddleware:
    """ASGI middleware answering the health endpoints and passing everything else to
    ``app``::

        app = HealthMiddleware(Starlette(routes=...), health)

    .. versionadded:: 0.1
    """

    def __init__(self, app: ASGIApp, health: Health, exposure: Exposure | None = None) -> None:
        self.app = app
        self.health = health
        self.exposure = exposure or Exposure()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and group_of(scope["path"])[0]:
            await serve_health(self.health, self.exposure, scope, send)
            return
        await self.app(scope, receive, send)


async def serve_health(health: Health, exposure: Exposure, scope: Scope, send: Send) -> None:
    """Answer one ASGI HTTP request for a health endpoint."""
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }
    client = scope.get("client")
    query = scope.get("query_string", b"").decode("latin-1")
    request = Request(scope["method"], scope["path"], query, headers, client[0] if client else None)
    reply = await answer(health, exposure, request)
    await _send(send, reply)


async def _send(send: Send, reply: Answer) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in reply.headers],
        }
    )
    await send({"type": "http.response.body", "body": reply.body})
