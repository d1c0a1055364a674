"""What is specific to the postgresql:// coordination driver (the contract suite covers the rest).

Token order under concurrent writers, statements bounded by the timeout and ended on the server
before the next one, reconnecting the listening and the working connections, the URL options.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from anker._drivers import prepare_driver
from anker._url import parse_url
from anker.coordination.backends import Backend, EntryExists
from anker.coordination.backends.postgres import PostgresBackend, _lock_key

pytestmark = pytest.mark.integration

#: long enough that no session expires during a test by accident
LEASE = 30.0

OpenBackend = Callable[..., Awaitable[PostgresBackend]]


def make_postgres(url: str, **options: object) -> PostgresBackend:
    backend = prepare_driver("anker.coordination.backends", url, Backend, options)
    assert isinstance(backend, PostgresBackend)
    return backend


def ns() -> str:
    return f"t{uuid.uuid4().hex[:12]}/lock/x"


@pytest.fixture
async def open_backend(postgres_url: str) -> AsyncIterator[OpenBackend]:
    """Open drivers on the test server (URL options as keywords); all closed at the end."""
    opened: list[PostgresBackend] = []

    async def open_(
        url: str = postgres_url, timeout: float = 5.0, **options: str
    ) -> PostgresBackend:
        backend = make_postgres(url, lease=LEASE, timeout=timeout, **options)
        await backend.connect()
        opened.append(backend)
        return backend

    yield open_
    for backend in opened:
        await backend.aclose()


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def lock_waiters(db: Any, key: int) -> int:
    """How many server processes wait for advisory lock ``key`` (``db``: a psycopg
    connection)."""
    cursor = await db.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND (classid::bigint << 32 | objid::bigint) = %s",
        (key,),
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def hammer(
    writers: list[PostgresBackend], reader: PostgresBackend, namespace: str, puts: int
) -> tuple[list[list[int]], list[int]]:
    """Every writer puts ``puts`` entries at once while the reader reads; return the token
    lists the reader saw, and the final one."""
    sessions = [await writer.create_session() for writer in writers]
    seen: list[list[int]] = []
    done = False

    async def write(writer: PostgresBackend, session: str) -> None:
        for _ in range(puts):
            await writer.put(session, namespace, uuid.uuid4().hex, b"")

    async def read() -> None:
        while not done:
            seen.append([entry.token for entry in await reader.entries(namespace)])

    reading = asyncio.create_task(read())
    await asyncio.gather(*(write(w, s) for w, s in zip(writers, sessions, strict=True)))
    done = True
    await reading
    final = [entry.token for entry in await reader.entries(namespace)]
    return seen, final


async def test_readers_only_ever_see_a_prefix_of_the_token_order(
    open_backend: OpenBackend,
) -> None:
    """Concurrent puts from several connections: a reader never sees a token while a smaller
    one is missing that shows up later (which is what would make two holders of one lock)."""
    writers = [await open_backend() for _ in range(8)]
    reader = await open_backend()
    seen, final = await hammer(writers, reader, ns(), puts=40)
    assert len(final) == 8 * 40
    assert final == sorted(final)
    gaps = [tokens for tokens in seen if tokens != final[: len(tokens)]]
    assert gaps == []
    assert any(0 < len(tokens) < len(final) for tokens in seen), "no read during the writes"


async def test_a_put_waits_for_the_namespace_lock_and_no_other(
    open_backend: OpenBackend, postgres_url: str
) -> None:
    """The lock that orders tokens is per namespace: a put elsewhere does not wait for it."""
    import psycopg

    backend = await open_backend()
    session = await backend.create_session()
    namespace, other = ns(), ns()
    key = _lock_key(backend.prefix + namespace)
    async with await psycopg.AsyncConnection.connect(postgres_url) as db:
        async with db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            other_backend = await open_backend()
            blocked = asyncio.create_task(other_backend.put(session, namespace, "k", b""))
            await until(lambda: _equals(lock_waiters(db, key), 1))
            assert await backend.put(session, other, "k", b"") > 0
            assert not blocked.done()
        token = await blocked
    assert token > 0
    assert [e.token for e in await backend.entries(namespace)] == [token]


async def test_a_statement_is_bounded_by_the_timeout_and_the_driver_recovers(
    open_backend: OpenBackend, postgres_url: str
) -> None:
    import psycopg

    backend = await open_backend(timeout=0.5)
    session = await backend.create_session()
    namespace = ns()
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db:
        key = _lock_key(backend.prefix + namespace)
        await db.execute("SELECT pg_advisory_lock(%s)", (key,))
        started = time.monotonic()
        with pytest.raises((TimeoutError, psycopg.errors.QueryCanceled)):
            await backend.put(session, namespace, "k", b"")
        assert time.monotonic() - started < 0.5 + 0.5

        # ended on the server too: no longer waiting for the lock
        await until(lambda: _equals(lock_waiters(db, key), 0))
        await db.execute("SELECT pg_advisory_unlock(%s)", (key,))
    assert await backend.entries(namespace) == []  # the put that timed out left nothing
    assert await backend.put(session, namespace, "k", b"") > 0


async def test_a_put_given_up_on_is_ended_on_the_server_before_the_next_statement(
    open_backend: OpenBackend, postgres_url: str
) -> None:
    """Otherwise the put could still land after the delete that follows it (what a lock does
    when an acquisition is cancelled), and its entry would block the lock for good."""
    import psycopg

    backend = await open_backend()
    session = await backend.create_session()
    namespace = ns()
    key = _lock_key(backend.prefix + namespace)
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db:
        await db.execute("SELECT pg_advisory_lock(%s)", (key,))
        put = asyncio.create_task(backend.put(session, namespace, "k", b""))
        await until(lambda: _equals(lock_waiters(db, key), 1))  # the put waits on the server
        put.cancel()
        with pytest.raises(asyncio.CancelledError):
            await put
        await backend.delete(namespace, "k")
        assert await lock_waiters(db, key) == 0  # its server process was ended first
        await db.execute("SELECT pg_advisory_unlock(%s)", (key,))
    assert await backend.entries(namespace) == []


class StallingProxy:
    """A TCP proxy on loopback that can stall: keep every connection open, pass nothing on
    (a server that hangs, or a network that drops packets without telling anyone)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        self.flowing.set()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers.update((writer, up_writer))

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    await self.flowing.wait()
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


async def test_a_stalled_server_costs_a_call_its_timeout_and_no_more(
    open_backend: OpenBackend, postgres_url: str
) -> None:
    """psycopg would wait for a cancelled statement to end (seconds, on a dead network): the
    driver cuts that connection instead, and carries on with a new one."""
    parsed = parse_url(postgres_url)
    endpoint = parsed.endpoints[0]
    proxy = StallingProxy((endpoint.host, endpoint.port or 5432))
    await proxy.start()
    try:
        user = f"{endpoint.username}@" if endpoint.username else ""
        url = f"postgresql://{user}127.0.0.1:{proxy.port}{parsed.path}"
        backend = await open_backend(url, timeout=0.5)
        session = await backend.create_session()
        proxy.flowing.clear()
        # a statement on the open connection, then opening a new connection
        for call in (backend.renew_session(session), backend.entries(ns())):
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await call
            assert time.monotonic() - started < 0.5 + 0.3
        proxy.flowing.set()
        await backend.renew_session(session)
        proxy.flowing.clear()
        with pytest.raises(TimeoutError):
            await backend.renew_session(session)
        started = time.monotonic()
        await backend.aclose()  # does not wait for the abandoned statement either
        assert time.monotonic() - started < 0.5 + 0.3
    finally:
        await proxy.close()


async def test_a_dropped_listening_connection_wakes_the_watches_and_listens_again(
    open_backend: OpenBackend, postgres_url: str
) -> None:
    import psycopg

    name = f"anker-test-{uuid.uuid4().hex[:8]}"
    watcher = await open_backend(application_name=name)
    writer = await open_backend()
    session = await writer.create_session()
    namespace = ns()
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db:

        async def listeners() -> list[int]:
            cursor = await db.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
                " AND query LIKE 'LISTEN %%'",
                (name,),
            )
            return [pid for (pid,) in await cursor.fetchall()]

        async with watcher.watch(namespace) as watch:
            (pid,) = await listeners()
            await db.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert await watch.wait(5) is True  # told that changes may have been missed

            async def listening_again() -> bool:
                return len(await listeners()) == 1 and (await listeners())[0] != pid

            await until(listening_again)
            while await watch.wait(0):  # the wake-up on reconnection, if not yet seen
                pass
            assert await watch.wait(0.2) is False
            await writer.put(session, namespace, "k", b"")
            assert await watch.wait(5) is True


async def test_a_dropped_working_connection_is_replaced_and_reads_are_retried(
    open_backend: OpenBackend, postgres_url: str
) -> None:
    import psycopg

    name = f"anker-test-{uuid.uuid4().hex[:8]}"
    backend = await open_backend(application_name=name)
    session = await backend.create_session()

    async def terminate() -> None:
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db:
            await db.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (name,),
            )

    await terminate()
    namespace = ns()
    assert await backend.entries(namespace) == []  # a read is simply tried again
    await terminate()
    with pytest.raises(psycopg.OperationalError):  # a put is not: it may have been done
        await backend.put(session, namespace, "k", b"")
    await backend.renew_session(session)
    assert await backend.put(session, namespace, "k", b"") > 0


async def test_several_hosts_are_tried_in_order(
    open_backend: OpenBackend, postgres_url: str
) -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    parsed = parse_url(postgres_url)
    endpoint = parsed.endpoints[0]
    user = f"{endpoint.username}@" if endpoint.username else ""
    url = f"postgresql://{user}127.0.0.1:{dead},{endpoint.host}:{endpoint.port or 5432}"
    backend = await open_backend(url + parsed.path)
    session = await backend.create_session()
    assert await backend.put(session, ns(), "k", b"") > 0


async def test_table_prefix_keeps_deployments_apart(
    open_backend: OpenBackend, postgres_url: str
) -> None:
    import psycopg

    prefix = f"t{uuid.uuid4().hex[:8]}_"
    try:
        mine = await open_backend(table_prefix=prefix)
        default = await open_backend()
        namespace = ns()
        await mine.put(await mine.create_session(), namespace, "k", b"mine")
        session = await default.create_session()
        assert await default.entries(namespace) == []
        await default.put(session, namespace, "k", b"default")  # no EntryExists
        assert [e.value for e in await mine.entries(namespace)] == [b"mine"]
        with pytest.raises(EntryExists):
            await default.put(session, namespace, "k", b"again")
    finally:
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db:
            await db.execute(f"DROP TABLE IF EXISTS {prefix}entries, {prefix}sessions CASCADE")
            cursor = await db.execute(
                "SELECT oid::regprocedure::text FROM pg_proc WHERE proname LIKE %s",
                (prefix.replace("_", "\\_") + "%",),
            )
            for (function,) in await cursor.fetchall():
                await db.execute(f"DROP FUNCTION {function}")


async def test_namespaces_takes_the_prefix_literally(open_backend: OpenBackend) -> None:
    backend = await open_backend()
    session = await backend.create_session()
    root = f"t{uuid.uuid4().hex[:12]}/"
    for name in ("lock/a_b", "lock/axb", "lock/a%b"):
        await backend.put(session, root + name, "k", b"")
    assert await backend.namespaces(root + "lock/a_") == [root + "lock/a_b"]
    assert await backend.namespaces(root + "lock/a%") == [root + "lock/a%b"]


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("postgresql:///db", {}, "needs a host"),
        ("postgresql://h/db", {"table_prefx": "x_"}, "unknown option"),
        ("postgresql://h/db", {"table_prefix": "Bad-Prefix"}, "table_prefix"),
        ("postgresql://h/db", {"table_prefix": "x" * 33}, "table_prefix"),
        ("postgresql://a:pw1@h1,b:pw2@h2/db", {}, "same user and password"),
    ],
)
def test_bad_urls_and_options_are_refused_without_io(
    url: str, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        make_postgres(url, lease=1.0, timeout=1.0, **options)
    assert "pw1" not in str(raised.value)
    assert "pw2" not in str(raised.value)
