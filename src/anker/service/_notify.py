"""systemd's readiness protocol, ``sd_notify``: one datagram to ``$NOTIFY_SOCKET``."""

from __future__ import annotations

import logging
import os
import socket

__all__ = ["notify"]

log = logging.getLogger("anker.service")


def notify(state: str) -> bool:
    """Send ``state`` (``READY=1``, ``STOPPING=1``, ``RELOADING=1``, ``STATUS=...``) to the
    service manager named by ``$NOTIFY_SOCKET``; False if there is none or it cannot be
    reached (a service started by hand, a manager gone: never an error)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket (a NUL byte starts its name)
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.debug("sd_notify %s to %s failed: %s", state, address, exc)
        return False
    return True
