"""The standalone endpoint: uvicorn serving :class:`HealthApp` on its own port, for services
with no HTTP API of their own (RPC servers, workers)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Any, Self

from anker._drivers import require
from anker.health._asgi import ASGIApp, HealthApp
from anker.health._exposure import Exposure

if TYPE_CHECKING:
    from types import TracebackType

    from anker.health._registry import Health

__all__ = ["HealthServer"]


class HealthServer:
    """The health endpoints on ``host:port``, served by uvicorn on the running event loop::

        async with Health() as health, HealthServer(health, port=8081) as server:
            ...  # the service's own work; server.port is the bound port (port=0: any free)

    The server is a task this object owns: :meth:`aclose` (or leaving ``async with``) stops it.
    It does not take over the process's signals (the service's runtime handles those), and it
    runs in this process only (uvicorn's ``--workers`` loses TCP_NODELAY on its listening
    socket, uvicorn#3149, which costs ~40 ms per keep-alive request). Needs
    ``pip install 'anker[health]'``.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        health: Health,
        exposure: Exposure | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8081,
        app: ASGIApp | None = None,
    ) -> None:
        #: what is served: the endpoints alone, or ``app`` (e.g. a service's app behind
        #: :class:`~anker.health.HealthMiddleware`)
        self.app: ASGIApp = app if app is not None else HealthApp(health, exposure or Exposure())
        self.host = host
        self.port = port
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._listener: socket.socket | None = None

    async def start(self) -> None:
        """Bind and start answering; raises OSError if the port cannot be bound."""
        server, task, listener = await start_uvicorn(
            self.app,
            self.host,
            self.port,
            task_name="anker-health-server",
            needed_for="the standalone health endpoint",
            what="the health endpoint",
        )
        self.port = listener.getsockname()[1]
        self._server, self._task, self._listener = server, task, listener

    async def aclose(self) -> None:
        """Stop answering and wait for the server to finish."""
        server, task, listener = self._server, self._task, self._listener
        self._server = self._task = self._listener = None
        if server is None or task is None:
            return
        server.exit()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            if listener is not None:
                listener.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def start_uvicorn(
    app: Any, host: str, port: int, *, task_name: str, needed_for: str, what: str
) -> tuple[Any, asyncio.Task[None], socket.socket]:
    """Serve ``app`` with uvicorn on ``host:port`` in a task named ``task_name``; the server,
    its task and its socket, once it listens. OSError naming ``what`` if it cannot (the port
    is bound here, not by uvicorn: its bind error would be a sys.exit() inside the task)."""
    uvicorn = require("uvicorn", extra="health", needed_for=needed_for)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,  # no server name and version in responses
        date_header=False,
    )
    try:
        listener = _listen(host, port)
    except OSError as failed:  # a port in use: say which server and which address
        raise OSError(
            failed.errno, f"{what} cannot listen on {host}:{port}: {failed.strerror or failed}"
        ) from failed
    server = _quiet_server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[listener]), name=task_name)
    started = asyncio.ensure_future(server.ready.wait())
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    if task.done():
        listener.close()
        task.result()
        raise OSError(f"{what} could not start on {host}:{listener.getsockname()[1]}")
    return server, task, listener


def _listen(host: str, port: int) -> socket.socket:
    """The socket a server of this process listens on: the one ``anker run --listen`` bound
    for ``host:port`` before forking the workers, else a new one."""
    from anker._sockets import bound, listening_socket

    shared = bound(host, port) if port else None
    if shared is not None:
        shared.setblocking(False)
        return shared
    return listening_socket(host, port)


def _quiet_server_class() -> Any:
    uvicorn = require("uvicorn", extra="health", needed_for="the standalone health endpoint")

    class Quiet(uvicorn.Server):  # type: ignore[misc,name-defined]
        """uvicorn's server, minus the signal handlers, plus an event set once it listens and
        one that makes it exit at once (uvicorn looks at ``should_exit`` every 100 ms)."""

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.ready = asyncio.Event()
            self.exiting = asyncio.Event()

        def exit(self) -> None:
            """Stop accepting connections now; requests in progress finish."""
            self.should_exit = True
            self.exiting.set()

        async def main_loop(self) -> None:
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 1) % 864000
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.exiting.wait(), 0.1)

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield  # the service owns SIGINT and SIGTERM, not its health endpoint

        async def shutdown(self, sockets: Any = None) -> None:
            if self.server_state.connections or self.server_state.tasks:
                await super().shutdown(sockets)  # lets requests in progress finish
                return
            # idle: uvicorn would sleep 100 ms for connections that are not there
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            for server in self.servers:
                await server.wait_closed()
            if not self.force_exit:
                await self.lifespan.shutdown()

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            self.ready.set()

    return Quiet


def _quiet_server(config: Any) -> Any:
    return _quiet_server_class()(config)
