"""What a service is made of: the :class:`Component` protocol and adapters for anker's parts."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from anker.health._asgi import ASGIApp

__all__ = ["ASGIServer", "Component", "Managed", "as_component"]


@runtime_checkable
class Component(Protocol):
    """One part of a :class:`~anker.service.Service`: started in dependency order, drained and
    stopped in reverse.

    - ``start()``: begin work; the service is ready only once every component has started.
    - ``drain(deadline)``: stop taking new work and let in-flight work finish, within
      ``deadline`` seconds (the service cancels a drain that outlasts it).
    - ``in_flight()``: what is running now, in words (``"2 RPC calls"``), logged as abandoned
      if the drain deadline passes.
    - ``stop()``: release what is held (locks, claims, leadership) and close connections.

    A component whose work can end on its own (a server whose task exits) may also have
    ``async def ended(self) -> str``: it returns, saying why, when the component stopped
    working without being asked; the service then logs that and stops with exit code 1
    (``FAILED``) instead of running on half-broken.

    .. versionadded:: 0.1
    """

    name: str

    async def start(self) -> None:
        """Begin work; the service is ready once every component has started."""

    async def drain(self, deadline: float) -> None:
        """Stop taking new work and let in-flight work finish within ``deadline`` seconds."""

    def in_flight(self) -> list[str]:
        """What is running now, in words (``"2 RPC calls"``)."""

    async def stop(self) -> None:
        """Release what is held (locks, claims, leadership) and close connections."""


class Managed:
    """A component from a part that opens with one coroutine and closes with another (a
    coordinator, a health registry, a transport: anything with ``aclose()``)::

        service.add(Managed(coordinator, name="coordinator"))   # closed last, leases released

    ``start`` is awaited at start if given (the part may be open already), ``close`` at stop.

    .. versionadded:: 0.1
    """

    def __init__(self, part: Any, *, name: str | None = None, start: str | None = None) -> None:
        self.part = part
        self.name = name or type(part).__name__
        self._start = start

    def __repr__(self) -> str:
        return f"<Managed {self.name}>"

    async def start(self) -> None:
        """Call the part's start method, if it has one."""
        if self._start is not None:
            await getattr(self.part, self._start)()

    async def drain(self, deadline: float) -> None:
        """Nothing: the part has no work of its own to drain."""

    def in_flight(self) -> list[str]:
        """Nothing: the part reports no work of its own."""
        return []

    async def stop(self) -> None:
        """Close the part (``await part.aclose()``)."""
        await self.part.aclose()


class _Consumer:
    """An RPC server or notification listener: drained by its own ``stop(deadline)`` (no new
    deliveries, unstarted messages back to the broker, running ones finish)."""

    def __init__(self, consumer: Any, name: str | None = None) -> None:
        self.consumer = consumer
        self.name = name or repr(consumer)

    def observe(self, metrics: Any) -> None:
        """Count the RPC calls it handles in ``metrics`` (RPC servers only)."""
        from anker.messaging._server import RPCServer

        if isinstance(self.consumer, RPCServer):
            self.consumer.observer = lambda method, seconds, failed: metrics.observe_call(
                method, seconds, failed=failed
            )

    def __repr__(self) -> str:
        return f"<component {self.name}>"

    async def start(self) -> None:
        await self.consumer.start()

    async def drain(self, deadline: float) -> None:
        await self.consumer.stop(deadline)

    def in_flight(self) -> list[str]:
        running = len(self.consumer._running)
        return [f"{running} message(s) being handled by {self.name}"] if running else []

    async def stop(self) -> None:
        await self.consumer.stop(0.0)


class ASGIServer:
    """An ASGI app (Starlette, FastAPI, a health or metrics app) served by uvicorn on
    ``host:port`` (``port=0``: any free port, read back from ``port`` after start).

    Drain stops accepting connections and lets the requests in progress finish. Needs
    uvicorn (``pip install 'anker[health]'``).

    .. versionadded:: 0.1
    """

    def __init__(
        self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 8080, name: str = "asgi"
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<ASGIServer {self.name} on {self.host}:{self.port}>"

    async def start(self) -> None:
        """Listen, and serve the app; returns once the socket is bound."""
        from anker.health._server import start_uvicorn

        server, task, listener = await start_uvicorn(
            self.app,
            self.host,
            self.port,
            task_name=f"anker-{self.name}",
            needed_for="serving an ASGI app",
            what=self.name,
        )
        self.port = listener.getsockname()[1]
        self._server, self._task = server, task

    async def drain(self, deadline: float) -> None:
        """Stop accepting connections and let the requests in progress finish."""
        if self._server is None or self._task is None:
            return
        self._server.exit()  # stop accepting; requests in progress finish
        await asyncio.wait({self._task})

    async def ended(self) -> str:
        """Returns, saying why, if the server stops serving without being asked."""
        task = self._task
        if task is None:
            return f"{self.name} is not serving"
        await asyncio.wait({task})
        if task.cancelled():
            return f"{self.name}'s server task was cancelled"
        error = task.exception()
        if error is not None:
            return f"{self.name}'s server failed: {error!r}"
        return f"{self.name} stopped serving"

    def in_flight(self) -> list[str]:
        """The open HTTP connections, in words."""
        if self._server is None:
            return []
        open_connections = len(self._server.server_state.connections)
        return [f"{open_connections} HTTP connection(s) on {self.name}"] if open_connections else []

    async def stop(self) -> None:
        """Close every connection and stop serving."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = server.force_exit = True
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def as_component(part: object) -> Component:
    """``part`` as a component: itself if it is one, else the adapter for anker's parts
    (RPC servers and notification listeners, health registries and endpoints,
    coordinators); TypeError for anything else."""
    # each kind is looked for only if its module is loaded (else the part cannot be one):
    # adding a component imports nothing
    registry, server = _loaded("anker.health._registry"), _loaded("anker.health._server")
    if registry is not None and isinstance(part, registry.Health):
        return Managed(part, name="health", start="start")
    if server is not None and isinstance(part, server.HealthServer):
        return Managed(part, name="health-endpoint", start="start")
    messaging = _loaded("anker.messaging._serving")
    if messaging is not None and isinstance(part, messaging.Consumer):
        return _Consumer(part)
    coordination = _loaded("anker.coordination._coordinator")
    if coordination is not None and isinstance(part, coordination.Coordinator):
        return Managed(part, name="coordinator")
    if isinstance(part, Component):
        return part
    raise TypeError(
        f"{part!r} is not a component: give it start(), drain(deadline), in_flight() and "
        "stop() (anker.service.Component), or wrap it in anker.service.Managed"
    )


def _loaded(module: str) -> Any:
    import sys

    return sys.modules.get(module)
