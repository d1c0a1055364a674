"""``postgresql://user:password@host:5432/dbname``: coordination in two PostgreSQL tables.

**Layout.** ``<prefix>sessions`` has a row per session (``id``, ``expires``), and
``<prefix>entries`` a row per entry (``token``, ``namespace``, ``key``, ``value`` bytea,
``session``, ``created``), with ``UNIQUE (namespace, key)`` and ``session`` a foreign key, so no
entry outlives its session. The token is an identity column: a sequence, which never hands out
a value twice, across clients and restarts (``CACHE 1``; a cache would give each connection a
block of its own). ``connect`` creates the tables and a few PL/pgSQL functions (``<prefix>*_v1``)
if they are missing, under an advisory lock; the user needs the right to, the first time.

**Leases** run on the server's clock (``clock_timestamp()``), so the clients' clocks do not
matter. ``renew`` sets ``expires`` to the server's now plus the lease, and refuses a session
already past it, so a dead session never comes back; the entries of a session past ``expires``
are never reported, and ``expires_in`` says when that will be. Dead sessions are deleted with
their entries lazily, by ``put``, ``entries`` and ``renew``. The purge locks them first
(``FOR UPDATE SKIP LOCKED``), so a ``put`` that holds its session (``FOR KEY SHARE``, until it
commits) either comes before the purge and its entry is deleted too, or finds the session gone.

**Order.** A sequence hands out a value when ``nextval`` runs, not when the transaction
commits: two concurrent puts could commit tokens 11 and then 10, and a reader in between would
see 11 without 10 (two holders of one lock). So ``put`` takes a transaction-level advisory lock
on the namespace (a 64-bit BLAKE2b hash of the prefix and the namespace) before the insert
that draws the token, and holds it until it commits. PostgreSQL makes a commit visible before
it releases the transaction's locks, so within a namespace tokens are drawn in commit order,
and every snapshot holds a prefix of that order: never an entry without every older entry that
is still alive. (A hash collision only makes two namespaces wait for each other.)

**Atomicity.** Every operation is one statement in autocommit mode (a function call, or a
``DELETE`` with its ``NOTIFY``): one transaction and one round trip. A put checks its session,
draws its token, inserts and notifies, or does nothing.

**Watches.** Every change sends ``NOTIFY <prefix>changes`` with the namespace as payload, in
its own transaction, so it is delivered once committed, and only then. One connection per
backend listens (opened by the first watch, then kept) and sets the events of the watches on
each notified namespace. A watch is returned once the ``LISTEN`` is active. When the listening
connection drops, every watch is woken (a spurious wake-up is allowed, a missed one is not),
and again once it listens anew.

**Connections.** Calls share one connection, one statement at a time: each is a single short
statement, so a pool would take more of the server's connections (a process each) without
making anything faster. A call waits at most ``timeout``, and the server gives up on a
statement then too (``statement_timeout``). A statement given up on (timeout, cancellation)
may still run on the server, so its connection is cut and replaced, and the new connection
first ends the old one's server process and waits for it (it holds a session advisory lock
that the new one claims), so statements take effect in the order they were issued: a ``put``
given up on can never land after the ``delete`` that follows it. Statements that may safely
run twice (all but ``put``) are retried once when the connection turns out broken. Needs
PostgreSQL 14 or newer.

URL: ``postgresql://[user[:password]@]host[:port][,host[:port]...][/dbname][?options]``;
several hosts are tried in order, and then only a primary is used
(``target_session_attrs=read-write``). Options: ``table_prefix`` (default ``anker_coord_``; up
to 32 lowercase letters, digits and ``_``), and the libpq settings ``sslmode``,
``sslrootcert``, ``sslcert``, ``sslkey``, ``sslcrl``, ``channel_binding``,
``application_name`` and ``target_session_attrs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from anker._drivers import Backoff, DriverSettings, require, setting
from anker._engines.postgres import LibpqSettings, connect_params
from anker.coordination._backend import (
    Backend,
    CoordinationSettings,
    Entry,
    EntryExists,
    SessionExpired,
    Watch,
)
from anker.errors import InvalidOption

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from anker._url import BackendURL

__all__ = ["PostgresBackend"]

log = logging.getLogger("anker.coordination")

NEEDED_FOR = "the postgresql:// coordination backend"
DEFAULT_PREFIX = "anker_coord_"
_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,31}")
MIN_SERVER_VERSION = 140000  # pg_terminate_backend(pid, timeout)
#: what put_v1 returns instead of a token
KEY_TAKEN, SESSION_GONE = 0, -1
#: the first pause before the listening connection is opened again (doubling up to the lease)
RETRY_MIN = 0.05

# ``{p}`` is the table prefix (checked against _PREFIX). Run in one transaction, under an
# advisory lock: concurrent CREATE ... IF NOT EXISTS can fail on the catalog's unique indexes.
SCHEMA = """
CREATE TABLE IF NOT EXISTS {p}sessions (
    id text COLLATE "C" PRIMARY KEY,
    expires timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS {p}sessions_expires ON {p}sessions (expires);
CREATE TABLE IF NOT EXISTS {p}entries (
    token bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
    namespace text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    session text COLLATE "C" NOT NULL REFERENCES {p}sessions (id) ON DELETE CASCADE,
    created timestamptz NOT NULL,
    UNIQUE (namespace, key)
);
CREATE INDEX IF NOT EXISTS {p}entries_session ON {p}entries (session);

-- Delete sessions (already locked FOR UPDATE by the caller) and their entries; notify.
CREATE OR REPLACE FUNCTION {p}forget_v1(p_sessions text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_changed bigint;
BEGIN
    WITH gone AS (
        DELETE FROM {p}entries WHERE session = ANY (p_sessions) RETURNING namespace
    )
    SELECT count(pg_notify('{p}changes', namespace)) INTO v_changed
    FROM (SELECT DISTINCT namespace FROM gone) AS changed;
    DELETE FROM {p}sessions WHERE id = ANY (p_sessions);
END $$;

-- Delete the sessions whose lease ran out by p_now, with their entries.
CREATE OR REPLACE FUNCTION {p}purge_v1(p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_dead text[];
BEGIN
    -- Locked first: a put holding one of them commits before its entries are looked for.
    SELECT array_agg(id) INTO v_dead FROM (
        SELECT id FROM {p}sessions WHERE expires <= p_now FOR UPDATE SKIP LOCKED
    ) AS dead;
    IF v_dead IS NOT NULL THEN
        PERFORM {p}forget_v1(v_dead);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION {p}end_v1(p_session text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM {p}sessions WHERE id = p_session FOR UPDATE;
    IF FOUND THEN
        PERFORM {p}forget_v1(ARRAY[p_session]);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION {p}renew_v1(p_session text, p_lease float8) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
BEGIN
    PERFORM {p}purge_v1(v_now);
    UPDATE {p}sessions SET expires = v_now + make_interval(secs => p_lease)
    WHERE id = p_session AND expires > v_now;
    RETURN FOUND;
END $$;

-- The token, or 0 when the key is taken, or -1 when the session is gone.
CREATE OR REPLACE FUNCTION {p}put_v1(
    p_session text, p_namespace text, p_key text, p_value bytea, p_lock bigint
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_token bigint;
BEGIN
    PERFORM {p}purge_v1(v_now);
    -- Held until commit: the session cannot be ended or purged under this put.
    PERFORM 1 FROM {p}sessions WHERE id = p_session AND expires > v_now FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    -- Tokens of a namespace are drawn in commit order: see the driver's docstring.
    PERFORM pg_advisory_xact_lock(p_lock);
    INSERT INTO {p}entries (namespace, key, value, session, created)
    VALUES (p_namespace, p_key, p_value, p_session, clock_timestamp())
    ON CONFLICT (namespace, key) DO NOTHING
    RETURNING token INTO v_token;
    IF v_token IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM pg_notify('{p}changes', p_namespace);
    RETURN v_token;
END $$;

CREATE OR REPLACE FUNCTION {p}entries_v1(p_namespace text) RETURNS TABLE (
    o_key text, o_value bytea, o_token bigint, o_session text, o_created float8,
    o_expires_in float8
)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
BEGIN
    PERFORM {p}purge_v1(v_now);
    RETURN QUERY
    SELECT e.key, e.value, e.token, e.session, extract(epoch FROM e.created)::float8,
           extract(epoch FROM s.expires - v_now)::float8
    FROM {p}entries AS e JOIN {p}sessions AS s ON s.id = e.session
    WHERE e.namespace = p_namespace AND s.expires > v_now
    ORDER BY e.token;
END $$;
"""
#: the last object SCHEMA creates: if it exists, so does everything else
INSTALLED = "{p}entries_v1(text)"

# The connection's claim on this backend object's key: the server process of its previous
# connection (if one still runs a statement it was given) is ended first, and waited for.
CLAIM = (
    "SELECT pg_try_advisory_lock(%s::bigint) FROM ("
    " SELECT count(pg_terminate_backend(pid, %s::bigint)) FROM pg_locks"
    " WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid <> pg_backend_pid()"
    " AND (classid::bigint << 32 | objid::bigint) = %s::bigint) AS previous"
)
CREATE_SESSION = (
    "INSERT INTO {p}sessions (id, expires) "
    "VALUES (%s, clock_timestamp() + make_interval(secs => %s::float8)) "
    "ON CONFLICT (id) DO NOTHING"
)
RENEW = "SELECT {p}renew_v1(%s::text, %s::float8)"
END = "SELECT {p}end_v1(%s::text)"
PUT = "SELECT {p}put_v1(%s::text, %s::text, %s::text, %s::bytea, %s::bigint)"
ENTRIES = "SELECT * FROM {p}entries_v1(%s::text)"
DELETE = (
    "WITH gone AS (DELETE FROM {p}entries WHERE namespace = %s::text AND key = %s::text "
    "RETURNING namespace) SELECT pg_notify('{p}changes', namespace) FROM gone"
)
NAMESPACES = (
    "SELECT DISTINCT e.namespace FROM {p}entries AS e JOIN {p}sessions AS s "
    "ON s.id = e.session WHERE e.namespace LIKE %s::text AND s.expires > clock_timestamp() "
    "ORDER BY e.namespace"
)


def _lock_key(text: str) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock``."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class PostgresSettings(CoordinationSettings, LibpqSettings):
    """The options of ``postgresql://``: the table prefix, and the libpq settings a URL
    may carry (passed to libpq as they are)."""

    table_prefix: str = setting(
        DEFAULT_PREFIX,
        help="prefix of anker's tables: 1 to 32 lowercase letters, digits and _",
    )


class PostgresBackend(Backend):
    """Coordination through PostgreSQL tables; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = PostgresSettings
    settings: PostgresSettings
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        timeout = self.timeout
        self.prefix = self.settings.table_prefix
        if _PREFIX.fullmatch(self.prefix) is None:
            raise InvalidOption(
                "table_prefix",
                self.describe(url),
                f"{self.prefix!r}: 1 to 32 lowercase letters, digits and _ expected, "
                "not starting with a digit",
            )
        self._params, self._password = connect_params(url, self.settings, timeout)
        self._channel = f"{self.prefix}changes"
        self._db: AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        #: the session-level advisory lock that the working connection holds (see CLAIM)
        self._claim = secrets.randbits(64) - 2**63
        #: connections whose statement was given up on, closed once it ends
        self._abandoned: set[asyncio.Task[None]] = set()
        # the listening connection, and the events of the open watches by namespace
        self._listen_db: AsyncConnection[Any] | None = None
        self._watches: dict[str, set[asyncio.Event]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._retry = asyncio.Event()
        #: the outcome of the listener's current attempt to LISTEN: None, or why it failed
        self._attempt: asyncio.Future[BaseException | None] | None = None

    def _sql(self, template: str) -> str:
        return template.replace("{p}", self.prefix)

    # ------------------------------------------------------------------ plumbing
    async def _open(self) -> AsyncConnection[Any]:
        psycopg = require("psycopg", extra="postgres", needed_for=NEEDED_FOR)
        params = dict(self._params)
        if self._password is not None:
            params["password"] = self._password.reveal()
        async with asyncio.timeout(self.timeout):
            db: AsyncConnection[Any] = await psycopg.AsyncConnection.connect(
                autocommit=True, **params
            )
        if db.info.server_version < MIN_SERVER_VERSION:
            await db.close()
            raise RuntimeError(
                f"{NEEDED_FOR} needs PostgreSQL 14 or newer; {self.url} runs "
                f"{db.info.server_version // 10000}"
            )
        return db

    async def _query(
        self, template: str, *params: object, retry: bool = True
    ) -> list[tuple[Any, ...]]:
        """Run one statement (one transaction) within the timeout; return its rows.

        A statement that may safely run twice (all but put's) is tried once more on a new
        connection when the connection turns out broken (a server restart, a failover).
        """
        sql = self._sql(template)
        async with asyncio.timeout(self.timeout), self._lock:
            for attempt in (1, 2):
                db = await self._working()
                try:
                    return await self._run(db, sql, params)
                except Exception:
                    if not (retry and attempt == 1 and db.broken):
                        raise
        raise AssertionError("unreachable")

    async def _working(self) -> AsyncConnection[Any]:
        """The working connection; a new one first claims this backend's key (see CLAIM)."""
        if self._closed:
            raise RuntimeError("the backend is closed")
        if self._db is not None and not self._db.closed:
            return self._db
        db = await self._open()
        try:
            claim = (self._claim, round(self.timeout * 500), self._claim)
            ((claimed,),) = await self._run(db, CLAIM, claim)
            if not claimed:
                raise ConnectionError("the previous connection's server process has not ended")
        except Exception:
            await db.close()
            raise
        self._db = db
        return db

    async def _run(
        self, db: AsyncConnection[Any], sql: str, params: tuple[object, ...]
    ) -> list[tuple[Any, ...]]:
        task = asyncio.ensure_future(_fetch(db, sql, params))
        try:
            return await asyncio.shield(task)
        finally:
            if not task.done():
                # Given up on (timeout, cancellation). Cancelling would make psycopg wait for
                # the server to confirm, seconds on a dead network; cutting the socket ends
                # the task at once. The statement may still run on the server: the next
                # connection's CLAIM ends that server process before anything else is done.
                if self._db is db:
                    self._db = None
                _sever(db)
                burial = asyncio.ensure_future(_bury(db, task))
                self._abandoned.add(burial)
                burial.add_done_callback(self._abandoned.discard)

    # ------------------------------------------------------------------ the interface
    async def connect(self) -> None:
        ((installed,),) = await self._query(
            "SELECT to_regprocedure(%s) IS NOT NULL", self._sql(INSTALLED)
        )
        if not installed:
            # One simple query is one transaction: the lock is held until it commits.
            schema_lock = _lock_key(f"anker schema {self.prefix}")
            await self._query(f"SELECT pg_advisory_xact_lock({schema_lock});{SCHEMA}")

    async def probe(self) -> None:
        """``SELECT 1`` on the working connection (a new one if the old one broke)."""
        await self._query("SELECT 1")

    async def aclose(self) -> None:
        self._closed = True
        if self._listener is not None:
            if self._listen_db is not None:
                _sever(self._listen_db)
            self._listener.cancel()
            await asyncio.wait({self._listener}, timeout=self.timeout)
        self._resolve_attempt(ConnectionError("the backend is closed"))
        db, self._db = self._db, None
        if db is not None:
            if self._lock.locked():
                _sever(db)  # a statement runs on it: it fails at once, psycopg closes it
            else:
                await db.close()
        if self._abandoned:
            await asyncio.wait(set(self._abandoned), timeout=self.timeout)

    async def create_session(self) -> str:
        session = uuid.uuid4().hex
        await self._query(CREATE_SESSION, session, self.lease)
        return session

    async def renew_session(self, session: str) -> None:
        ((renewed,),) = await self._query(RENEW, session, self.lease)
        if not renewed:
            raise SessionExpired(f"session {session} expired")

    async def end_session(self, session: str) -> None:
        await self._query(END, session)

    async def put(self, session: str, namespace: str, key: str, value: bytes) -> int:
        lock = _lock_key(self.prefix + namespace)
        ((token,),) = await self._query(PUT, session, namespace, key, value, lock, retry=False)
        if token == SESSION_GONE:
            raise SessionExpired(f"session {session} expired")
        if token == KEY_TAKEN:
            raise EntryExists(f"{namespace}/{key} exists")
        return int(token)

    async def delete(self, namespace: str, key: str) -> None:
        await self._query(DELETE, namespace, key)

    async def entries(self, namespace: str) -> list[Entry]:
        rows = await self._query(ENTRIES, namespace)
        return [
            Entry(key, bytes(value), token, session, created, max(0.0, expires_in))
            for key, value, token, session, created, expires_in in rows
        ]

    async def namespaces(self, prefix: str) -> list[str]:
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return [namespace for (namespace,) in await self._query(NAMESPACES, pattern)]

    @contextlib.asynccontextmanager
    async def watch(self, namespace: str) -> AsyncIterator[Watch]:
        await self._ensure_listening()
        # No await since the LISTEN was seen active: a change committed from here on is
        # notified to this event, or the connection drops and every event is set.
        event = asyncio.Event()
        self._watches.setdefault(namespace, set()).add(event)
        try:
            yield _PostgresWatch(event)
        finally:
            events = self._watches.get(namespace)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._watches[namespace]

    # ------------------------------------------------------------------ the listener
    async def _ensure_listening(self) -> None:
        """Return once the LISTEN is active; raise if the listener cannot connect now."""
        loop = asyncio.get_running_loop()
        while not self._listening.is_set():
            if self._closed:
                raise RuntimeError("the backend is closed")
            if self._listener is None or self._listener.done():
                self._attempt = loop.create_future()
                self._listener = loop.create_task(self._listen(), name="anker-postgres-listen")
            assert self._attempt is not None
            attempt = self._attempt
            self._retry.set()  # no back-off while a watch waits
            error = await asyncio.shield(attempt)
            if error is not None:
                raise ConnectionError(f"cannot listen for changes: {error}") from error

    def _resolve_attempt(self, error: BaseException | None) -> None:
        if self._attempt is not None and not self._attempt.done():
            self._attempt.set_result(error)

    def _wake_all(self) -> None:
        for events in self._watches.values():
            for event in events:
                event.set()

    async def _listen(self) -> None:
        """Keep a connection listening, and hand its notifications to the watches."""
        loop = asyncio.get_running_loop()
        backoff = Backoff(first=RETRY_MIN, cap=max(self.lease, RETRY_MIN))
        while True:
            error: BaseException | None = None
            db = None
            try:
                db = self._listen_db = await self._open()
                async with asyncio.timeout(self.timeout):
                    await db.execute(f"LISTEN {self._channel}")
                self._listening.set()
                self._retry.clear()
                self._resolve_attempt(None)
                self._wake_all()  # what changed while nobody listened
                backoff.reset()
                async with contextlib.aclosing(db.notifies()) as notifies:
                    async for notify in notifies:
                        for event in self._watches.get(notify.payload, ()):
                            event.set()
            except Exception as exc:
                if self._closed:
                    return
                error = exc
                log.log(
                    logging.WARNING if self._listening.is_set() else logging.DEBUG,
                    "coordination backend %s: listening for changes failed (%s); reconnecting",
                    self.url,
                    exc,
                )
            finally:
                self._listening.clear()
                self._wake_all()
                self._listen_db = None
                if db is not None:
                    await db.close()
            self._resolve_attempt(error)
            self._attempt = loop.create_future()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff.next_delay()):
                    await self._retry.wait()
            self._retry.clear()


async def _fetch(
    db: AsyncConnection[Any], sql: str, params: tuple[object, ...]
) -> list[tuple[Any, ...]]:
    # without parameters, psycopg sends a simple query, which may hold several statements
    cursor = await db.execute(sql, params or None)
    return await cursor.fetchall() if cursor.description is not None else []


def _sever(db: AsyncConnection[Any]) -> None:
    """Shut the connection's socket down: whoever waits on it gets an error at once.

    Unlike closing it, this leaves the file descriptor to psycopg, which closes it later.
    """
    with contextlib.suppress(Exception), socket.socket(fileno=os.dup(db.pgconn.socket)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


async def _bury(db: AsyncConnection[Any], task: asyncio.Future[Any]) -> None:
    """Close a connection once the statement given up on has ended."""
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # nobody else will look at it
    await db.close()


class _PostgresWatch(Watch):
    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    async def wait(self, timeout: float) -> bool:
        if not self.event.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self.event.wait()
            except TimeoutError:
                return False
        self.event.clear()
        return True
