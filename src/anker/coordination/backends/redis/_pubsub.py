"""The redis:// backend's pub/sub hub: one connection that carries every watch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from anker._drivers import Backoff
from anker.coordination._backend import EventWatch
from anker.coordination.backends.redis._resp import READ_SIZE, _complete_replies, _ReplyError
from anker.coordination.backends.redis._scripts import ADDED, REMOVED

if TYPE_CHECKING:
    from anker.coordination.backends.redis import RedisBackend

__all__ = ["LINGER", "_Hub", "_RedisWatch"]

log = logging.getLogger("anker.coordination")

#: how long a channel stays subscribed after its last watch closed, in seconds
LINGER = 2.0


class _RedisWatch(EventWatch):
    """Woken by the redis driver's reader; ``target``: the (namespace, key) of the entry a
    watch on an inbox is for."""

    def __init__(self, target: tuple[bytes, bytes] | None = None) -> None:
        super().__init__()
        self.target = target


class _Hub:
    """The backend's one pub/sub connection, shared by all its watches.

    Redis answers the commands of a connection in order, so the confirmations of the
    SUBSCRIBEs of one channel arrive in the order they were sent: each waits in a queue.
    """

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self.watches: dict[bytes, set[_RedisWatch]] = {}
        #: per channel, its latest SUBSCRIBE on the current connection (True once confirmed,
        #: False if the connection dropped first)
        self.subscribed: dict[bytes, asyncio.Future[bool]] = {}
        self.unconfirmed: dict[bytes, deque[asyncio.Future[bool]]] = {}
        #: channels whose watches are woken once subscribed again (messages may have been lost)
        self.missed: set[bytes] = set()
        self.connection: Any = None
        self.up = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.sending = asyncio.Lock()  # commands go out in the order they were decided on
        #: subscribed channels without a watch, and since when (see ``unsubscribe``)
        self.idle: dict[bytes, float] = {}
        self.linger = LINGER
        self.inbox_prefix = backend.inbox("")

    async def subscribe(self, channel: bytes, watch: _RedisWatch) -> None:
        self.watches.setdefault(channel, set()).add(watch)
        self.idle.pop(channel, None)
        try:
            async with asyncio.timeout(self.backend.timeout):
                while True:
                    if self.task is None:
                        self.task = asyncio.create_task(self._run(), name="anker-redis-pubsub")
                    await self.up.wait()
                    confirmed = self.subscribed.get(channel)
                    if confirmed is None:
                        confirmed = self._expect(channel)
                        with contextlib.suppress(Exception):  # then the connection is lost
                            await self._send(self.connection, "SUBSCRIBE", channel)
                    if await asyncio.shield(confirmed):
                        return
        except BaseException:
            await self.unsubscribe(channel, watch)
            raise

    async def unsubscribe(self, channel: bytes, watch: _RedisWatch) -> None:
        watches = self.watches.get(channel, set())
        watches.discard(watch)
        if watches:
            return
        self.watches.pop(channel, None)
        # The subscription stays for ``linger`` seconds: a waiter that queues again soon
        # (a lock taken in a loop under contention) then gets its watch without a round trip.
        # Messages for a channel without watches wake nobody.
        if channel in self.subscribed:
            self.idle[channel] = time.monotonic()
        await self._sweep()

    async def _sweep(self) -> None:
        """UNSUBSCRIBE the channels that have had no watch for ``linger`` seconds."""
        if not self.idle:
            return
        now = time.monotonic()
        stale = [c for c, since in self.idle.items() if now - since >= self.linger]
        if not stale:
            return
        for channel in stale:
            del self.idle[channel]
        stale = [
            c for c in stale if c not in self.watches and self.subscribed.pop(c, None) is not None
        ]
        if stale and self.up.is_set():
            with contextlib.suppress(Exception):
                await self._send(self.connection, "UNSUBSCRIBE", *stale)

    async def aclose(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=self.backend.timeout)

    def _expect(self, channel: bytes) -> asyncio.Future[bool]:
        future = asyncio.get_running_loop().create_future()
        self.subscribed[channel] = future
        self.unconfirmed.setdefault(channel, deque()).append(future)
        return future

    async def _send(self, connection: Any, *command: str | bytes) -> None:
        async with self.sending, asyncio.timeout(self.backend.timeout):
            if connection is not self.connection:
                raise ConnectionError("the pub/sub connection was replaced")
            await connection.send_command(*command, check_health=False)

    async def _run(self) -> None:
        """Keep a connection up while watches are open; a new one after each failure."""
        backoff = Backoff(first=0.05, cap=1.0)
        try:
            while True:
                try:
                    await self._serve()
                except Exception as exc:
                    # once per outage: failed reconnections are not news
                    level = logging.WARNING if self.up.is_set() else logging.DEBUG
                    log.log(level, "redis pub/sub connection lost (%s); reconnecting", exc)
                finally:
                    await self._drop()
                if not self.watches:
                    return
                await backoff.sleep()
        finally:
            if self.task is asyncio.current_task():
                self.task = None

    async def _serve(self) -> None:
        client = self.backend._client
        if client is None:
            raise ConnectionError("the backend is closed")
        connection = client.connection_pool.make_connection()
        self.connection = connection
        async with asyncio.timeout(self.backend.timeout):
            await connection.connect()
        if self.watches:
            channels = list(self.watches)
            for channel in channels:
                self._expect(channel)
            await self._send(connection, "SUBSCRIBE", *channels)
        self.up.set()
        reader, pending, pinged = connection._reader, b"", False
        while True:
            # Silence for ``timeout`` seconds: PING, and give up after another. Messages are
            # parsed here rather than by redis-py, whose line-at-a-time reader costs a
            # waiter about 50 us per wake-up (most of a hand-over's budget).
            try:
                async with asyncio.timeout(self.backend.timeout):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                await self._sweep()
                if pinged:
                    raise ConnectionError("no answer to PING") from None
                await self._send(connection, "PING")
                pinged = True
                continue
            if not data:
                raise ConnectionError("the server closed the connection")
            pinged = False
            replies, pending = _complete_replies(pending + data)
            for reply in replies:
                self._received(reply)

    def _received(self, reply: Any) -> None:
        """Act on one message of the pub/sub connection (RESP2 array or RESP3 push)."""
        if isinstance(reply, _ReplyError):
            raise ConnectionError(f"the server refused a pub/sub command: {reply.message}")
        if not isinstance(reply, list) or len(reply) < 2:
            return  # a PONG
        kind, channel = reply[0], reply[1]
        if kind == b"message":
            self._wake(channel, reply[2] if len(reply) > 2 else None)
        elif kind == b"subscribe" and channel in self.unconfirmed:
            queue = self.unconfirmed[channel]
            future = queue.popleft()
            if not queue:
                del self.unconfirmed[channel]
            if not future.done():
                future.set_result(True)
            if channel in self.missed:
                self.missed.discard(channel)
                self._wake(channel)

    def _wake(self, channel: bytes, message: bytes | None = None) -> None:
        watches = self.watches.get(channel, ())
        if message is not None and channel.startswith(self.inbox_prefix):
            self._tell(watches, message)
            return
        for watch in watches:
            if message == ADDED:
                watch.added()
            elif message is not None and message.startswith(REMOVED):
                watch.removed_entry(message[1:].decode(errors="surrogateescape"))
            else:
                watch.changed.set()  # not described (a lost connection): read again

    @staticmethod
    def _tell(watches: Iterable[_RedisWatch], message: bytes) -> None:
        """An inbox message: ``<namespace>\0<key>`` nothing is ahead of the entry ``key``
        now; with ``\0-``: the entry went with its session; with ``\0?``: read again."""
        namespace, _, rest = message.partition(b"\0")
        key, _, note = rest.partition(b"\0")
        for watch in watches:
            if watch.target != (namespace, key) and note in (b"", b"-", b"?"):
                continue  # someone else's news (anything else is not ours to read: wake all)
            if note == b"":
                watch.ahead_now(frozenset())
            elif note == b"-":
                watch.removed_entry(key.decode(errors="surrogateescape"))
            else:
                watch.changed.set()

    async def _drop(self) -> None:
        connection, self.connection = self.connection, None
        self.up.clear()
        self.missed.update(self.watches)
        for futures in self.unconfirmed.values():
            for future in futures:
                if not future.done():
                    future.set_result(False)
        self.unconfirmed.clear()
        self.subscribed.clear()
        self.idle.clear()
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
