"""ssl=true never sends credentials to a NATS server that does not require TLS: nats-py
upgrades only when the server's INFO says tls_required, and would otherwise send its CONNECT
(password included) in plain text. A stand-in server on loopback records what it receives."""

from __future__ import annotations

import asyncio

import pytest

from anker.messaging import TransportUnavailable, connect


async def test_ssl_true_sends_nothing_to_a_server_without_tls() -> None:
    pytest.importorskip("nats")
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b'INFO {"server_id":"fake","version":"2.10.0","headers":true,"max_payload":1048576}\r\n'
        )
        await writer.drain()
        try:
            while data := await reader.read(4096):
                received.append(data)
                writer.write(b"PONG\r\n+OK\r\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransportUnavailable, match="does not require TLS") as error:
            await connect(f"nats://alice:s3cret-pw@127.0.0.1:{port}?ssl=true&timeout=2s")
        assert "s3cret-pw" not in str(error.value)
        assert f"127.0.0.1:{port}" in str(error.value)
    finally:
        server.close()
        await server.wait_closed()
    assert b"s3cret-pw" not in b"".join(received)  # it was sent in its CONNECT
