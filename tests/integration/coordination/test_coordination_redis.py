"""What is particular to the redis:// coordination backend: tokens that survive a server that
lost its data, the key prefix, purging dead sessions, the shared pub/sub connection, URLs, and
cancelled calls.

Every test uses a key prefix of its own, so it can delete keys behind the driver's back without
touching anyone else's on the shared server.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from anker._url import parse_url
from anker.coordination import Coordinator, SessionExpired
from anker.coordination.backends.redis import RedisBackend
from servers import SERVERS
from tcp_proxy import TCPProxy, through

pytestmark = pytest.mark.integration

OpenRedis = Callable[..., Awaitable[RedisBackend]]


@pytest.fixture
def key_prefix() -> str:
    return f"anker-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def raw(redis_url: str, key_prefix: str) -> AsyncIterator[Any]:
    """A plain redis-py client, to look at (and break) the keys behind the driver's back."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{key_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def open_redis(redis_url: str, key_prefix: str) -> AsyncIterator[OpenRedis]:
    opened: list[RedisBackend] = []

    async def open_(url: str = redis_url, lease: float = 1.0, **options: str) -> RedisBackend:
        backend = RedisBackend(
            parse_url(url), {"key_prefix": key_prefix, **options}, lease=lease, timeout=5.0
        )
        await backend.connect()
        opened.append(backend)
        return backend

    yield open_
    for backend in opened:
        await backend.aclose()


def ns() -> str:
    return f"t{uuid.uuid4().hex[:12]}/lock/x"


async def test_tokens_keep_increasing_when_the_server_lost_its_data(
    open_redis: OpenRedis, raw: Any, key_prefix: str
) -> None:
    backend = await open_redis()
    session = await backend.create_session()
    namespace = ns()
    first = await backend.put(session, namespace, "a", b"")
    second = await backend.put(session, namespace, "b", b"")
    assert first < second < 2**53  # exact in Lua's doubles
    # a restart without persistence forgets the counter ...
    assert await raw.delete(f"{key_prefix}token") == 1
    third = await backend.put(session, namespace, "c", b"")
    assert third > second
    # ... and the sessions and entries too
    keys = [key async for key in raw.scan_iter(match=f"{key_prefix}*")]
    await raw.delete(*keys)
    with pytest.raises(SessionExpired):
        await backend.renew_session(session)
    with pytest.raises(SessionExpired):
        await backend.put(session, namespace, "d", b"")
    assert await backend.entries(namespace) == []
    fresh = await backend.create_session()
    assert await backend.put(fresh, namespace, "a", b"") > third


async def test_tokens_given_out_within_one_microsecond_still_increase(
    open_redis: OpenRedis, raw: Any, key_prefix: str
) -> None:
    backend = await open_redis()
    session = await backend.create_session()
    namespace = ns()
    token = await backend.put(session, namespace, "a", b"")
    # a counter ahead of the clock (many puts in one microsecond) is followed, not the clock
    await raw.set(f"{key_prefix}token", str(token + 10**9))
    assert await backend.put(session, namespace, "b", b"") == token + 10**9 + 1


async def test_the_key_prefix_keeps_deployments_apart(
    open_redis: OpenRedis, raw: Any, key_prefix: str, redis_url: str
) -> None:
    mine = await open_redis()
    theirs = await open_redis(key_prefix=f"{key_prefix}other:")
    namespace = ns()
    await mine.put(await mine.create_session(), namespace, "k", b"mine")
    assert await theirs.entries(namespace) == []
    assert await theirs.namespaces(namespace.split("/")[0]) == []
    assert [e.value for e in await mine.entries(namespace)] == [b"mine"]
    assert await raw.exists(f"{key_prefix}e:{namespace}") == 1
    # the URL's query sets it too, and the coordinator accepts it
    coordinator = await Coordinator.connect(f"{redis_url}?key_prefix={key_prefix}", lease=1.0)
    try:
        assert coordinator._backend.key_prefix == key_prefix  # type: ignore[attr-defined]
    finally:
        await coordinator.aclose()


async def test_a_reader_purges_a_dead_sessions_entries_and_tells_watchers(
    open_redis: OpenRedis, raw: Any, key_prefix: str
) -> None:
    writer, watcher = await open_redis(), await open_redis()
    dead, alive = await writer.create_session(), await writer.create_session()
    namespace = ns()
    await writer.put(dead, namespace, "a", b"")
    await writer.put(alive, namespace, "b", b"")
    async with watcher.watch(namespace) as watch:
        await raw.delete(f"{key_prefix}s:{dead}")  # as if its lease had run out
        assert await watch.wait(0.2) is False  # Redis tells nobody of an expiry ...
        (entry,) = await writer.entries(namespace)
        assert entry.key == "b"
        assert entry.expires_in is not None
        assert 0 < entry.expires_in <= 1.0
        assert await watch.wait(5) is True  # ... but the reader that purged it does
    assert await raw.hkeys(f"{key_prefix}e:{namespace}") == [b"b"]
    await writer.end_session(alive)
    assert await raw.exists(f"{key_prefix}e:{namespace}") == 0
    assert await writer.namespaces(namespace) == []
    assert await raw.zrange(f"{key_prefix}namespaces", 0, -1) == []


async def test_watches_share_one_connection_and_unsubscribe_when_closed(
    open_redis: OpenRedis, raw: Any
) -> None:
    watcher, writer = await open_redis(), await open_redis()
    session = await writer.create_session()
    one, two = ns(), ns()
    channel = watcher.channel(one)
    async with watcher.watch(one) as first, watcher.watch(one) as second, watcher.watch(two):
        assert await raw.pubsub_numsub(channel) == [(channel, 1)]
        await writer.put(session, one, "k", b"")
        assert await first.wait(5) is True
        assert await second.wait(5) is True
    assert await raw.pubsub_numsub(channel) == [(channel, 0)]
    # opened again at once, the watch still hears every change
    for _ in range(20):
        async with watcher.watch(one) as watch:
            await writer.delete(one, "k")
            await writer.put(session, one, "k", b"")
            assert await watch.wait(5) is True


async def test_a_watch_hears_of_changes_made_while_its_connection_was_down(
    open_redis: OpenRedis, redis_url: str
) -> None:
    proxy = TCPProxy(SERVERS["redis"].address())
    await proxy.start()
    watcher = await open_redis(through(redis_url, proxy.port))
    writer = await open_redis()
    session = await writer.create_session()
    namespace = ns()
    try:
        async with watcher.watch(namespace) as watch:
            await proxy.cut()
            await writer.put(session, namespace, "k", b"")  # nobody can tell the watcher
            await proxy.restore()
            assert await watch.wait(10) is True  # woken once subscribed again
            waiting = asyncio.create_task(watch.wait(10))
            await writer.delete(namespace, "k")
            assert await waiting is True
    finally:
        await proxy.cut()


async def test_urls_and_options(redis_url: str) -> None:
    url = parse_url(redis_url)
    with pytest.raises(ValueError, match="one host"):
        RedisBackend(parse_url("redis://h1:6379,h2:6379/0"), {}, lease=1.0, timeout=1.0)
    with pytest.raises(ValueError, match="database number"):
        RedisBackend(parse_url("redis://127.0.0.1:6379/db"), {}, lease=1.0, timeout=1.0)
    assert RedisBackend(url, {}, lease=1.0, timeout=1.0).key_prefix == "anker:coord:"
    with pytest.raises(ValueError, match="unknown option"):
        await Coordinator.connect(f"{redis_url}?socket_timeout=1")


async def test_a_cancelled_call_is_cancelled_and_leaves_the_backend_usable(
    open_redis: OpenRedis,
) -> None:
    backend = await open_redis()
    session = await backend.create_session()
    namespace = ns()

    async def busy() -> None:
        while True:
            await backend.entries(namespace)

    for _ in range(200):
        task = asyncio.create_task(busy())
        await asyncio.sleep(random.random() * 0.002)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert done, "a cancellation was swallowed"
        assert task.cancelled()
    await backend.put(session, namespace, "k", b"")
    assert [e.key for e in await backend.entries(namespace)] == ["k"]


async def test_a_call_after_the_server_closed_an_idle_connection_opens_a_new_one(
    open_redis: OpenRedis, raw: Any
) -> None:
    """The driver keeps its own idle connections; one the server closed meanwhile (a restart,
    a client timeout) is not used for the next call."""
    backend = await open_redis()
    session = await backend.create_session()
    (idle,) = backend._idle
    host, port = idle._writer.get_extra_info("sockname")[:2]
    await raw.execute_command("CLIENT", "KILL", "ADDR", f"{host}:{port}")
    await asyncio.sleep(0.2)  # the EOF reaches the idle connection's reader
    namespace = ns()
    await backend.put(session, namespace, "k", b"")
    assert [e.key for e in await backend.entries(namespace)] == ["k"]
    assert idle not in backend._idle
