"""Listening sockets bound once by a supervisor and shared by its forked workers.

``anker run --workers N --listen HOST:PORT`` binds each address before forking; the workers
inherit the sockets, and a server of a worker that listens on one of those addresses uses the
shared socket instead of binding its own. Connections wait in the one accept queue whichever
worker takes them, so a worker that stops accepting (a drain, a rolling restart) leaves its
share to the others, and nothing is refused.
"""

from __future__ import annotations

import socket

__all__ = ["bind", "bound", "listening_socket", "parse_address"]

#: the sockets bound before the fork, by (host, port) as given
_shared: dict[tuple[str, int], socket.socket] = {}


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as a pair; ValueError saying what is wrong."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected HOST:PORT with a port from 1 to 65535")
    return host.removeprefix("[").removesuffix("]"), int(port)


def listening_socket(host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A new listening TCP socket with TCP_NODELAY (inherited by accepted connections on
    Linux); OSError if the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind((host, port))
        listener.listen(backlog)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


def bind(host: str, port: int) -> socket.socket:
    """Bind ``host:port`` now, to be shared by the processes forked after this call."""
    listener = listening_socket(host, port, backlog=1024)
    _shared[(host, port)] = listener
    return listener


def bound(host: str, port: int) -> socket.socket | None:
    """A copy of the shared socket for ``host:port``, if one was bound before the fork (the
    caller closes its copy; the others keep the accept queue open)."""
    shared = _shared.get((host, port))
    return None if shared is None else shared.dup()
