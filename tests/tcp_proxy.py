"""A TCP proxy on loopback that a test can cut and restore, to partition a client from its
server without touching the server (the machine's shared servers must keep running)."""

from __future__ import annotations

import asyncio

from anker._url import parse_url

__all__ = ["TCPProxy", "through"]


class TCPProxy:
    """A TCP proxy on loopback that a test can cut (drop every connection, refuse new ones)
    and restore, to partition a client from its server without touching the server."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def aclose(self) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                sink.transport.abort()
                self._writers.discard(sink)

        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            if task is not None:
                self._tasks.discard(task)


def through(url: str, port: int) -> str:
    """``url`` with its (first) host and port replaced by 127.0.0.1:``port``."""
    parsed = parse_url(url)
    endpoint = parsed.endpoints[0]
    old = endpoint.render(mask=False)
    userinfo = old.rpartition("@")[0]
    new = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return url.replace(old, new, 1)
