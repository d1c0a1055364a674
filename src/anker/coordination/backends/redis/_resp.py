"""The Redis protocol (RESP2 and RESP3), as the redis:// backend speaks it without redis-py's
parser: script calls packed in one piece, replies parsed from whole reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = [
    "READ_SIZE",
    "_ReplyError",
    "_complete_replies",
    "_pack",
    "_pack_arguments",
    "_read_reply",
]


def _pack_arguments(*args: str | bytes | int) -> bytes:
    """Arguments in the Redis protocol: ``$<length>\\r\\n<bytes>\\r\\n`` each."""
    parts = []
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def _pack(head: bytes, args: tuple[str | bytes | int, ...]) -> bytes:
    """A script's command: ``head`` holds its first four arguments (EVALSHA, sha, 0, prefix)."""
    return b"*%d\r\n%b%b" % (4 + len(args), head, _pack_arguments(*args))


class _ReplyError:
    """An error reply (``-ERR ...``), as a value: it may come inside an array."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class _Incomplete(Exception):
    """More bytes are needed to parse the reply."""


#: how much one read takes from the connection's buffer
READ_SIZE = 65536


async def _read_reply(reader: asyncio.StreamReader | None) -> Any:
    """Read one reply to a script (RESP2 or RESP3, whichever the connection speaks).

    redis-py's parser reads a line at a time, each through the stream's ``readuntil``; a
    script's reply usually arrives whole, so it is taken in one read and parsed from there.
    One command is in flight per connection, so no byte of the next reply can follow; a
    RESP3 push message (the scripts' connections subscribe to nothing) is skipped.
    """
    if reader is None:
        raise ConnectionError("the connection is closed")
    data = await reader.read(READ_SIZE)
    pos = 0
    while True:
        if not data:
            raise ConnectionError("the server closed the connection")
        try:
            while data[pos] == 0x3E:  # '>' a push message, not a reply
                _, pos = _parse(data, pos)
            value, end = _parse(data, pos)
        except (_Incomplete, IndexError):
            more = await reader.read(READ_SIZE)
            if not more:
                raise ConnectionError("the server closed the connection") from None
            data += more
            continue
        if end != len(data):
            raise ConnectionError("unexpected data after a reply")
        return value


#: RESP types whose line is the value: integer, big number, status; double; boolean; null
_LINE_TYPES: dict[int, Callable[[bytes], Any]] = {
    0x3A: int,
    0x28: int,
    0x2B: bytes,
    0x2C: float,
    0x23: lambda line: line == b"t",
    0x5F: lambda line: None,
}


def _parse(data: bytes, pos: int) -> tuple[Any, int]:  # noqa: PLR0911 (one per kind)
    """The RESP value at ``pos`` and the position after it; raises _Incomplete."""
    end = data.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line, pos = data[pos], data[pos + 1 : end], end + 2
    if kind in _LINE_TYPES:
        return _LINE_TYPES[kind](line), pos
    if kind in (0x24, 0x3D, 0x21):  # '$' bulk string, '=' verbatim string, '!' blob error
        length = int(line)
        if length < 0:
            return None, pos
        stop = pos + length
        if len(data) < stop + 2:
            raise _Incomplete
        if kind == 0x21:
            return _ReplyError(data[pos:stop].decode(errors="replace")), stop + 2
        return data[pos + 4 if kind == 0x3D else pos : stop], stop + 2
    if kind in (0x2A, 0x7E, 0x3E, 0x25):  # '*' array, '~' set, '>' push, '%' map
        length = int(line)
        if length < 0:
            return None, pos
        items = []
        for _ in range(length * 2 if kind == 0x25 else length):
            item, pos = _parse(data, pos)
            items.append(item)
        return items, pos
    if kind == 0x2D:  # '-' error
        return _ReplyError(line.decode(errors="replace")), pos
    raise ConnectionError(f"unexpected reply type {chr(kind)!r}")


def _complete_replies(data: bytes) -> tuple[list[Any], bytes]:
    """The whole RESP values at the start of ``data``, and the bytes after them (the start
    of a value still on its way)."""
    replies, pos = [], 0
    while pos < len(data):
        try:
            reply, pos_after = _parse(data, pos)
        except _Incomplete:
            break
        replies.append(reply)
        pos = pos_after
    return replies, data[pos:]
