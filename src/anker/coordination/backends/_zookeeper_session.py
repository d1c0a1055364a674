"""The sessions of the ``zookeeper://`` backend: one kazoo client per ZooKeeper session, and the
events that wake coroutines waiting for a client's connection state to change."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

__all__ = ["_LIVE", "_LIVE_LOCK", "_Changes", "_Session", "_session_name", "_stop"]

log = logging.getLogger("anker.coordination")

#: sessions of this process by id, so that any backend object can end them
_LIVE: dict[str, _Session] = {}
_LIVE_LOCK = threading.Lock()


def _session_name(sid: int) -> str:
    return f"0x{sid & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def _stop(client: Any) -> None:
    """Stop a kazoo client and join its threads (blocking; never call it on a kazoo thread)."""
    try:
        client.stop()
        client.close()
    except Exception:
        log.warning("stopping a ZooKeeper client failed", exc_info=True)


class _Changes:
    """Wakes the coroutines waiting for a kazoo client's connection state to change."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def pulse(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self) -> None:
        await self._event.wait()


class _Session:
    """One ZooKeeper session, on a kazoo client of its own."""

    def __init__(self, client: Any, sid: int, changes: _Changes, deadline: float) -> None:
        self.client = client
        self.sid = sid
        self.id = _session_name(sid)
        self.changes = changes
        #: monotonic time at which the lease runs out (guarded by the backend's _leases)
        self.deadline = deadline
        #: set once the session must not be used any more
        self.ending = False
        self._closing = threading.Lock()
        self._closed = False

    def current(self) -> bool:
        client_id = self.client.client_id
        return not self.ending and client_id is not None and client_id[0] == self.sid

    def close(self) -> None:
        """Close the session: ZooKeeper has deleted its entries when this returns."""
        self.ending = True
        with self._closing:
            if not self._closed:
                self._closed = True
                with _LIVE_LOCK:
                    _LIVE.pop(self.id, None)
                _stop(self.client)
