"""A Tang stand-in in the test's own process, for what a real tangd never does.

It serves the advertisement of the vectors in ``test_tang_jwe`` (signed by a real tangd) and
answers ``POST /rec/<kid>`` with ``reply(X)``: by default what Tang answers, ``d·X`` for that
advertisement's private exchange key, or whatever a test makes it say.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from test_tang_jwe import ADVERTISEMENT, URL_A, private

from anker.secrets._jwe import jwk_from_point, point_from_jwk

# by name: a test may wrap the module's functions to watch the client's arithmetic
from anker.secrets._p521 import multiply

Reply = Callable[[tuple[int, int]], object]


def honest(point: tuple[int, int]) -> object:
    answer = multiply(private(URL_A), point)
    assert answer is not None
    return jwk_from_point(answer)


class TangStandIn:
    """``async with TangStandIn() as tang:`` serves on ``tang.url`` until the block ends."""

    def __init__(self, reply: Reply = honest, advertisement: str = ADVERTISEMENT) -> None:
        self.reply = reply
        self.advertisement = advertisement.encode()
        self.url = ""
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> TangStandIn:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            self.requests.append(f"{method} {path}")
            status, payload = self._answer(method, path, body)
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if method == "GET" and path == "/adv":
            return 200, self.advertisement
        if method == "POST" and path.startswith("/rec/"):
            point = point_from_jwk(json.loads(body), "the request")
            return 200, json.dumps(self.reply(point)).encode()
        return 404, b""
