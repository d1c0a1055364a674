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
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from anker._drivers import require
from anker.coordination._backend import (
    Backend,
    Entry,
    EntryExists,
    EventWatch,
    SessionExpired,
    Watch,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from anker._url import BackendURL

__all__ = ["RedisBackend"]

log = logging.getLogger("anker.coordination")

DEFAULT_KEY_PREFIX = "anker:coord:"
NEEDED_FOR = "the redis:// coordination backend"
#: what the put script returns instead of a token (tokens are positive)
EXPIRED, EXISTS = -1, -2
#: the messages on a namespace's channel: an entry was added; REMOVED + key: it was removed
ADDED, REMOVED = b"+", b"-"
#: how long a channel stays subscribed after its last watch closed, in seconds
LINGER = 2.0
SENTINEL_PORT = 26379
#: error replies that mean "ask somewhere else": the connection is dropped
NOT_THE_PRIMARY = ("READONLY", "MASTERDOWN", "LOADING")

# Every script gets the key prefix as ARGV[1]; the layout is in the module docstring.
PRELUDE = (
    f"local P, EXPIRED, EXISTS = ARGV[1], {EXPIRED}, {EXISTS}\n"
    f"local ADDED, REMOVED = '{ADDED.decode()}', '{REMOVED.decode()}'"
    + r"""
local INDEX, COUNTER = P .. 'namespaces', P .. 'token'
local function session_key(id) return P .. 's:' .. id end
local function entries_key(ns) return P .. 'e:' .. ns end
local function channel(ns) return P .. 'c:' .. ns end
local function added_channel(ns) return P .. 'a:' .. ns end
local function queue_key(ns) return P .. 'q:' .. ns end
local function inbox(session) return P .. 'w:' .. session end
local function ref(ns, key) return cmsgpack.pack({ns, key}) end

-- Make the queue of a namespace list exactly its entries, in token order.
local function rebuild_queue(ns)
  local queue, fields = queue_key(ns), redis.call('HGETALL', entries_key(ns))
  redis.call('DEL', queue)
  for i = 1, #fields, 2 do
    redis.call('ZADD', queue, cmsgpack.unpack(fields[i + 1])[1], fields[i])
  end
end

-- Remove an entry and tell who may care: the removals channel; the head of the queue, on its
-- session's inbox, if the entry was ahead of it (nothing is ahead of the head now: it holds,
-- if it waits exclusively); and with ``owner``, the entry's own session (the entry went with
-- the session, not by the owner's hand). Each is O(log n), so ending a session that holds
-- many entries of one namespace stays O(n log n).
local function remove(ns, key, owner)
  local hash, queue = entries_key(ns), queue_key(ns)
  redis.call('HDEL', hash, key)
  local token = redis.call('ZSCORE', queue, key)
  redis.call('ZREM', queue, key)
  redis.call('PUBLISH', channel(ns), REMOVED .. key)
  if owner then redis.call('PUBLISH', inbox(owner), ns .. '\0' .. key .. '\0-') end
  -- The queue must list exactly the entries, else "nothing ahead" may be false. If it does
  -- not (a writer that kept none, a key lost), it is rebuilt and the head hears "read the
  -- namespace" ('?') instead.
  local before, note = token and tonumber(token), ''
  local head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
  local record = #head > 0 and redis.call('HGET', hash, head[1])
  if not before or (#head > 0 and not record)
      or redis.call('ZCARD', queue) ~= redis.call('HLEN', hash) then
    rebuild_queue(ns)
    before, note = -math.huge, '\0?'
    head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
    record = #head > 0 and redis.call('HGET', hash, head[1])
  end
  if #head == 0 or tonumber(head[2]) < before then return end
  redis.call('PUBLISH', inbox(cmsgpack.unpack(record)[2]), ns .. '\0' .. head[1] .. note)
end

-- Delete the entries of dead sessions; return the live ones with their session's PTTL.
local function live_entries(ns)
  local hash, ttl, live = entries_key(ns), {}, {}
  local fields = redis.call('HGETALL', hash)
  for i = 1, #fields, 2 do
    local e = cmsgpack.unpack(fields[i + 1])
    local left = ttl[e[2]] or redis.call('PTTL', session_key(e[2]))
    ttl[e[2]] = left
    if left == -2 then
      remove(ns, fields[i], e[2])
    else
      live[#live + 1] = {fields[i], e[4], e[1], e[2], e[3], left}
    end
  end
  if #live == 0 then redis.call('ZREM', INDEX, ns) end
  if redis.call('ZCARD', queue_key(ns)) ~= #live then rebuild_queue(ns) end
  return live
end

-- Create an entry; return its token, or EXPIRED or EXISTS (negative).
local function put(session, ns, key, value)
  local owner, hash = session_key(session), entries_key(ns)
  if redis.call('EXISTS', owner) == 0 then return EXPIRED end
  local old = redis.call('HGET', hash, key)
  if old and redis.call('EXISTS', session_key(cmsgpack.unpack(old)[2])) == 1 then
    return EXISTS
  end
  local now = redis.call('TIME')
  local micros = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local token = math.max((tonumber(redis.call('GET', COUNTER)) or 0) + 1, micros)
  redis.call('SET', COUNTER, string.format('%.0f', token))
  redis.call('HSET', hash, key, cmsgpack.pack({token, session, micros, value}))
  redis.call('ZADD', queue_key(ns), token, key)
  redis.call('SADD', owner, ref(ns, key))
  redis.call('ZADD', INDEX, 0, ns)
  redis.call('PUBLISH', added_channel(ns), ADDED)
  return token
end
"""
)

SCRIPTS = {
    # ARGV: prefix, session, lease in ms
    "create": """
redis.call('SADD', session_key(ARGV[2]), '')
return redis.call('PEXPIRE', session_key(ARGV[2]), ARGV[3])
""",
    "renew": "return redis.call('PEXPIRE', session_key(ARGV[2]), ARGV[3])",
    # ARGV: prefix, session, namespace, key, value
    "put": "return put(ARGV[2], ARGV[3], ARGV[4], ARGV[5])",
    # Returns one flat array, cheap to parse: {token, created, own lease left, then six
    # fields per other live entry}; the caller has the rest of its own entry already.
    "put_and_read": """
local token = put(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if token < 0 then return {token} end
local out = {token, 0, 0}
for _, e in ipairs(live_entries(ARGV[3])) do
  if e[1] == ARGV[4] then
    out[2], out[3] = e[5], e[6]
  else
    for j = 1, 6 do out[#out + 1] = e[j] end
  end
end
return out
""",
    # ARGV: prefix, namespace, key
    "delete": """
local hash = entries_key(ARGV[2])
local old = redis.call('HGET', hash, ARGV[3])
if not old then return 0 end
remove(ARGV[2], ARGV[3], nil)
redis.call('SREM', session_key(cmsgpack.unpack(old)[2]), ref(ARGV[2], ARGV[3]))
if redis.call('EXISTS', hash) == 0 then redis.call('ZREM', INDEX, ARGV[2]) end
return 1
""",
    # ARGV: prefix, session
    "end": """
local refs = redis.call('SMEMBERS', session_key(ARGV[2]))
redis.call('DEL', session_key(ARGV[2]))
for _, r in ipairs(refs) do
  if r ~= '' then
    local ns, key = unpack(cmsgpack.unpack(r))
    local hash = entries_key(ns)
    local old = redis.call('HGET', hash, key)
    if old and cmsgpack.unpack(old)[2] == ARGV[2] then
      remove(ns, key, ARGV[2])
      if redis.call('EXISTS', hash) == 0 then redis.call('ZREM', INDEX, ns) end
    end
  end
end
""",
    # ARGV: prefix, namespace
    "entries": "return live_entries(ARGV[2])",
    # ARGV: prefix, prefix of the namespaces ('\\255' never occurs in UTF-8)
    "namespaces": r"""
local found = {}
for _, ns in ipairs(redis.call('ZRANGEBYLEX', INDEX, '[' .. ARGV[2], '(' .. ARGV[2] .. '\255')) do
  if #live_entries(ns) > 0 then found[#found + 1] = ns end
end
return found
""",
}


class RedisBackend(Backend):
    """Coordination through Redis; see the module docstring."""

    __module__ = "anker.coordination.backends.redis"
    capabilities: ClassVar[frozenset[str]] = frozenset()
    known_options: ClassVar[frozenset[str] | None] = frozenset({"key_prefix", "sentinel"})
    bounds_calls: ClassVar[bool] = True  # every call is one _run, under asyncio.timeout

    def __init__(
        self, url: BackendURL, options: Mapping[str, str], *, lease: float, timeout: float
    ) -> None:
        super().__init__(url, options, lease=lease, timeout=timeout)
        #: the Sentinel service name: then the URL's hosts are Sentinels, not the server
        self.sentinel = options.get("sentinel") or url.param("sentinel")
        if not url.endpoints or (len(url.endpoints) > 1 and not self.sentinel):
            raise ValueError(
                f"{url.scheme}:// needs exactly one host, e.g. redis://127.0.0.1:6379, or "
                f"Sentinels and a service name, e.g. redis://s1:26379,s2:26379?sentinel=mymaster"
            )
        if not url.path.strip("/").isdigit() and url.path not in ("", "/"):
            raise ValueError(f"{url.scheme}:// takes a database number as path, e.g. /0: {url}")
        self.db = int(url.path.strip("/") or 0)
        self.key_prefix = options.get("key_prefix") or url.param("key_prefix") or DEFAULT_KEY_PREFIX
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
        redis = require("redis.asyncio", extra="redis", needed_for=NEEDED_FOR)
        retry = require("redis.asyncio.retry", extra="redis", needed_for=NEEDED_FOR)
        backoff = require("redis.backoff", extra="redis", needed_for=NEEDED_FOR)
        settings = {
            # Calls are bounded by asyncio.timeout in the calling task. No socket_timeout: with
            # it, redis-py sends through asyncio.wait_for, which before Python 3.12 can swallow
            # a cancellation (the caller then hangs on, and the connection is left half-used).
            "socket_timeout": None,
            "socket_connect_timeout": self.timeout,
            "retry": retry.Retry(backoff.NoBackoff(), 0),
        }
        if self.sentinel:
            client = self._sentinel_client(settings)
        else:
            # the one place that sees the password; anker's options stay out of redis-py's way
            client_url = dataclasses.replace(self.url, query=MappingProxyType({})).render(
                mask=False
            )
            client = redis.Redis.from_url(client_url, **settings)
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

    def _sentinel_client(self, settings: dict[str, Any]) -> Any:
        """A client whose connections ask the Sentinels for the primary as they connect."""
        sentinel = require("redis.asyncio.sentinel", extra="redis", needed_for=NEEDED_FOR)
        first = self.url.endpoints[0]
        self._sentinels = sentinel.Sentinel(
            [(endpoint.host, endpoint.port or SENTINEL_PORT) for endpoint in self.url.endpoints],
            # Sentinels are asked without credentials; those in the URL are the primary's
            # no retries with back-off (redis-py's default): the next Sentinel is asked instead
            sentinel_kwargs={
                "socket_timeout": self.timeout,
                "socket_connect_timeout": self.timeout,
                "retry": settings["retry"],
            },
        )
        return self._sentinels.master_for(
            self.sentinel,
            db=self.db,
            username=first.username,
            password=None if first.password is None else first.password.reveal(),
            **settings,
        )

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
        delay = 0.05
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
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)
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
