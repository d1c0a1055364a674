"""``redis://[[user]:password@]host[:port][/db]``: coordination on one Redis server.

**Layout.** Every key starts with ``key_prefix`` (default ``anker:coord:``, written ``P`` here),
so deployments can share a server:

* ``P s:<session>``: the session, a set with a ``PX`` lease (``PEXPIRE`` renews it). Its members
  are the empty string (so it exists while it has no entries) and ``msgpack([namespace, key])``
  of each entry it owns, so that ending it deletes them at once.
* ``P e:<namespace>``: a hash, entry key -> ``msgpack([token, session, created_us, value])``.
* ``P q:<namespace>``: a sorted set of the namespace's entry keys, scored by token: the queue
  order, so the scripts find the head without reading every entry.
* ``P namespaces``: a sorted set (all scores 0) of the namespaces that may hold entries, for
  ``namespaces(prefix)`` by lexical range; a namespace found empty is dropped from it.
* ``P token``: the last token given out, for every namespace.
* channel ``P c:<namespace>``: ``-<key>`` is published on it when entry ``key`` was removed
  (deleted, purged or ended with its session), so a waiter reads the queue again only when an
  entry ahead of it left; channel ``P a:<namespace>``: ``+`` when an entry was added. Lock
  waiters subscribe to removals only (a newcomer queues behind them), so a put wakes nobody
  but the watchers of a group.
* channel ``P w:<session>``, the session's inbox: when an entry ahead of the queue's head is
  removed, the head's session hears ``<namespace>\0<head's key>``: nothing is ahead of it now.
  An exclusive waiter listens there only, so a hand-over wakes the next waiter and nobody else
  (ZooKeeper's "watch the predecessor" recipe, without the read that follows it there). An
  entry removed with its session is announced to that session too (``...\0-``), and a queue
  found not to match the entries is rebuilt and its head told to read the namespace
  (``...\0?``).

**Atomicity and order.** Every operation is one Lua script, so one round trip, and Redis runs
scripts one at a time, each to completion. ``put`` checks the session key exists (else
SessionExpired) and that no live entry has the key (else EntryExists), takes the next token
from ``P token`` and stores the entry, all in one script: tokens are handed out in the order
entries become visible, so token order is commit order (across namespaces, too). ``entries``
is one script as well and sees exactly the scripts that ran before it: if it shows an entry, it
shows every older live entry of the namespace, and an entry it does not show never appears
later with a smaller token. ``put_and_read`` runs both in one script (a lock is put+read,
then delete: two round trips). An entry is live while its session key exists; a session key that
is gone never comes back (renewal is ``PEXPIRE``, which does not create keys, and session ids
are random), so an entry that was dead stays dead. Readers delete the dead entries they find
(and publish that), then report each live entry with its session's ``PTTL`` as
``expires_in``: Redis tells nobody when a key expires, so this backend has no
``server-expiry``.

**Tokens across restarts.** A token is ``max(P token + 1, the server's TIME in microseconds)``,
so tokens keep increasing when a server without persistence restarts empty (or a replica
without the last writes is promoted), as long as its clock did not go back. Tokens stay below
2**53 (Lua's numbers are doubles) until the year 2255.

**Watches.** One pub/sub connection per backend, opened with the first watch, carries every
watch: a namespace's channel is subscribed while a watch on it is open (and for ``LINGER``
seconds after the last one closed, so that a waiter queueing again soon needs no round trip),
and a watch is handed out only once Redis confirmed its subscription, so every change committed
after that reaches it. The connection is PINGed when idle; when it drops, every watch is woken
once the channels are subscribed again on a new one, since messages sent in between are lost.

**Sentinel.** With ``?sentinel=<service>``, the URL's hosts are Sentinels (port 26379 by
default), asked in turn for the primary each time a connection opens; its credentials are the
primary's (the Sentinels are asked without any). A connection that hears ``READONLY`` (a
primary demoted by a failover), ``MASTERDOWN`` or ``LOADING`` is dropped, so the next call asks
the Sentinels again.

**Caveats.** No Redis Cluster. Replication is asynchronous: a failover can lose the last
entries, so two holders can believe they hold a lock; the fencing tokens still increase, so a
fenced store refuses the older one. Entries of a dead session stay
in memory until their namespace is next read or listed.

**URL.** ``redis://[[user]:password@]host[:port][/db][?key_prefix=anker:coord:]``, or
``redis://[[user]:password@]sentinel1[:port],sentinel2[:port][/db]?sentinel=<service>``. Every call
waits at most ``timeout`` seconds and is not retried (a put whose answer was lost must not run
twice); the coordinator decides what to try again. A call that is cancelled or times out closes
its connection, so no late answer is read by the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from anker._drivers import DriverSettings, require, setting
from anker._engines.redis import RedisURLSettings, database, redis_client
from anker.coordination._backend import (
    Backend,
    CoordinationSettings,
    Entry,
    EntryExists,
    SessionExpired,
    Watch,
)
from anker.coordination.backends.redis._pubsub import _Hub, _RedisWatch
from anker.coordination.backends.redis._resp import _pack, _pack_arguments, _read_reply, _ReplyError
from anker.coordination.backends.redis._scripts import EXISTS, EXPIRED, PRELUDE, SCRIPTS

if TYPE_CHECKING:
    from anker._url import BackendURL

__all__ = ["RedisBackend"]

DEFAULT_KEY_PREFIX = "anker:coord:"
NEEDED_FOR = "the redis:// coordination backend"
#: error replies that mean "ask somewhere else": the connection is dropped
NOT_THE_PRIMARY = ("READONLY", "MASTERDOWN", "LOADING")


@dataclasses.dataclass(frozen=True)
class RedisSettings(CoordinationSettings, RedisURLSettings):
    """The options of ``redis://``."""

    key_prefix: str = setting(DEFAULT_KEY_PREFIX, help="prefix of every key anker writes")


class RedisBackend(Backend):
    """Coordination through Redis; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = RedisSettings
    settings: RedisSettings
    capabilities: ClassVar[frozenset[str]] = frozenset()
    bounds_calls: ClassVar[bool] = True  # every call is one _run, under asyncio.timeout

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        lease = self.lease
        self.sentinel = self.settings.sentinel
        self.db = database(url, self.settings)
        self.key_prefix = self.settings.key_prefix or DEFAULT_KEY_PREFIX
        self.lease_ms = max(1, round(lease * 1000))
        self._client: Any = None
        #: script name -> (its EVALSHA command up to the arguments, packed; its source)
        self._scripts: dict[str, tuple[bytes, str]] = {}
        #: connections with no call in flight, and every connection not yet dropped
        self._idle: list[Any] = []
        self._connections: set[Any] = set()
        self._response_error: type[Exception] = Exception
        self._sentinels: Any = None
        self._hub = _Hub(self)

    async def _run(self, script: str, *args: str | bytes | int) -> Any:
        """Run a script on a connection of our own; one round trip.

        This bypasses redis-py's client and pool (retries, events, metrics: most of the cost
        of a call) and its parser (see ``_read_reply``), keeping only its connection. A
        connection goes back to the idle list only after a complete answer; on any error or
        cancellation it is closed and dropped, so no late answer can be read by the next call.
        """
        async with asyncio.timeout(self.timeout):
            connection = await self._connection()
            head, source = self._scripts[script]
            try:
                await connection.send_packed_command(_pack(head, args), check_health=False)
                reply = await _read_reply(connection._reader)
                if isinstance(reply, _ReplyError):
                    if reply.message.startswith(NOT_THE_PRIMARY):
                        # a primary demoted by a failover, or one still loading: the
                        # connection is dropped, and the next asks the Sentinels again
                        raise ConnectionError(reply.message)
                    if not reply.message.startswith("NOSCRIPT"):
                        raise self._response_error(reply.message)
                    # The server forgot its scripts (restart, SCRIPT FLUSH); a script it
                    # refused did not run, so it is safe to send it again.
                    await connection.send_packed_command(
                        connection.pack_command("EVAL", source, 0, self.key_prefix, *args),
                        check_health=False,
                    )
                    reply = await _read_reply(connection._reader)
                    if isinstance(reply, _ReplyError):
                        raise self._response_error(reply.message)
            except BaseException:
                self._connections.discard(connection)
                with contextlib.suppress(Exception):
                    await connection.disconnect(nowait=True)
                raise
        self._idle.append(connection)
        return reply

    async def _connection(self) -> Any:
        """An idle connection, or a new one."""
        while self._idle:
            connection = self._idle.pop()
            try:
                # data or EOF waiting on an idle connection: the server closed it (a restart)
                stale = await connection.can_read()
            except Exception:
                stale = True
            if not stale:
                return connection
            self._connections.discard(connection)
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
        if self._client is None:
            raise ConnectionError("the backend is closed")
        connection = self._client.connection_pool.make_connection()
        try:
            # Connected here, not by its first command: redis-py connects a command's
            # connection to its configured address, not to the primary a Sentinel names.
            await connection.connect()
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
            raise
        self._connections.add(connection)
        return connection

    def channel(self, namespace: str) -> bytes:
        """The pub/sub channel of a namespace's removals."""
        return f"{self.key_prefix}c:{namespace}".encode()

    def added_channel(self, namespace: str) -> bytes:
        """The pub/sub channel of a namespace's new entries."""
        return f"{self.key_prefix}a:{namespace}".encode()

    def inbox(self, session: str) -> bytes:
        """The pub/sub channel where a session's entries hear that the entry ahead left."""
        return f"{self.key_prefix}w:{session}".encode()

    # ------------------------------------------------------------------ the interface
    async def connect(self) -> None:
        # calls are bounded by asyncio.timeout in the calling task (see redis_client)
        client, self._sentinels = redis_client(
            self.url, self.settings, self.timeout, needed_for=NEEDED_FOR
        )
        sources = {name: PRELUDE + body for name, body in SCRIPTS.items()}
        try:
            # Load the scripts (and see the server answers) in one round trip, so that the
            # first calls need not fall back from EVALSHA to EVAL.
            async with asyncio.timeout(self.timeout):
                pipeline = client.pipeline(transaction=False)
                for source in sources.values():
                    pipeline.script_load(source)
                shas = await pipeline.execute()
        except BaseException:
            await client.aclose()
            raise
        self._client = client
        exceptions = require("redis.exceptions", extra="redis", needed_for=NEEDED_FOR)
        self._response_error = exceptions.ResponseError
        self._scripts = {
            name: (_pack_arguments(b"EVALSHA", sha, b"0", self.key_prefix), source)
            for (name, source), sha in zip(sources.items(), shas, strict=True)
        }

    async def probe(self) -> None:
        """One PING on a pooled connection."""
        if self._client is None:
            raise ConnectionError("the backend is not connected")
        async with asyncio.timeout(self.timeout):
            await self._client.ping()

    async def aclose(self) -> None:
        await self._hub.aclose()
        sentinels, self._sentinels = self._sentinels, None
        if sentinels is not None:
            with contextlib.suppress(Exception):
                await sentinels.aclose()
        client, self._client = self._client, None
        connections, self._connections = self._connections, set()
        self._idle.clear()
        for connection in connections:
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
        if client is not None:
            await client.aclose()

    async def create_session(self) -> str:
        session = uuid.uuid4().hex
        await self._run("create", session, self.lease_ms)
        return session

    async def renew_session(self, session: str) -> None:
        if not await self._run("renew", session, self.lease_ms):
            raise SessionExpired(f"session {session} expired")

    async def end_session(self, session: str) -> None:
        await self._run("end", session)

    async def put(self, session: str, namespace: str, key: str, value: bytes) -> int:
        return _token(
            await self._run("put", session, namespace, key, value), session, namespace, key
        )

    async def put_and_read(
        self, session: str, namespace: str, key: str, value: bytes
    ) -> tuple[int, list[Entry]]:
        result = await self._run("put_and_read", session, namespace, key, value)
        token = _token(result[0], session, namespace, key)  # raises unless it is a token
        _, created, left, *rest = result
        entries = _entries([rest[i : i + 6] for i in range(0, len(rest), 6)])
        # ours is the newest: the script handed out its token after every other one
        entries.append(
            Entry(
                key=key,
                value=value,
                token=token,
                session=session,
                created=created / 1e6,
                expires_in=left / 1000 if left >= 0 else None,
            )
        )
        return token, entries

    async def delete(self, namespace: str, key: str) -> None:
        await self._run("delete", namespace, key)

    async def entries(self, namespace: str) -> list[Entry]:
        return _entries(await self._run("entries", namespace))

    def watch(self, namespace: str) -> contextlib.AbstractAsyncContextManager[Watch]:
        return self._watch(self.channel(namespace), self.added_channel(namespace))

    def watch_removals(self, namespace: str) -> contextlib.AbstractAsyncContextManager[Watch]:
        return self._watch(self.channel(namespace))

    def watch_ahead(
        self, namespace: str, session: str, key: str
    ) -> contextlib.AbstractAsyncContextManager[Watch]:
        # The scripts that remove an entry tell the head of the queue, on its session's inbox.
        return self._watch(self.inbox(session), target=(namespace.encode(), key.encode()))

    @contextlib.asynccontextmanager
    async def _watch(
        self, *channels: bytes, target: tuple[bytes, bytes] | None = None
    ) -> AsyncIterator[Watch]:
        watch = _RedisWatch(target)
        subscribed: list[bytes] = []
        try:
            for channel in channels:
                await self._hub.subscribe(channel, watch)
                subscribed.append(channel)
            yield watch
        finally:
            for channel in subscribed:
                await self._hub.unsubscribe(channel, watch)

    async def namespaces(self, prefix: str) -> list[str]:
        return sorted(name.decode() for name in await self._run("namespaces", prefix))


def _token(result: int, session: str, namespace: str, key: str) -> int:
    """The token a put script returned, or the error it stands for."""
    if result == EXPIRED:
        raise SessionExpired(f"session {session} expired")
    if result == EXISTS:
        raise EntryExists(f"{namespace}/{key} exists")
    return int(result)


def _entries(rows: list[list[Any]]) -> list[Entry]:
    """Entries from the rows of ``live_entries``, in token order."""
    found = [
        Entry(
            key=key.decode(),
            value=bytes(value),
            token=int(token),
            session=session.decode(),
            created=created / 1e6,
            expires_in=left / 1000 if left >= 0 else None,
        )
        for key, value, token, session, created, left in rows
    ]
    return sorted(found, key=lambda entry: entry.token)
