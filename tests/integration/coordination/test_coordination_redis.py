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

from anker._drivers import prepare_driver
from anker._url import parse_url
from anker.coordination import Coordinator
from anker.coordination.backends import Backend, SessionExpired
from anker.coordination.backends.redis import RedisBackend
from anker.errors import InvalidOption, InvalidURL
from servers import SERVERS
from tcp_proxy import TCPProxy, through

pytestmark = pytest.mark.integration

OpenRedis = Callable[..., Awaitable[RedisBackend]]


def make_redis(url: str, **options: object) -> RedisBackend:
    """A backend as Coordinator.connect makes it (settings parsed), not yet connected."""
    backend = prepare_driver("anker.coordination.backends", url, Backend, options)
    assert isinstance(backend, RedisBackend)
    return backend


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
        options = {"key_prefix": key_prefix, **options}
        backend = make_redis(url, lease=lease, timeout=5.0, **options)
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


async def test_a_removals_only_watch_is_not_woken_by_new_entries(open_redis: OpenRedis) -> None:
    """Lock waiters watch removals only: a newcomer queues behind them, so its put must not
    wake every waiter of the lock (the cost that capped contended throughput)."""
    watcher, writer = await open_redis(), await open_redis()
    session = await writer.create_session()
    namespace = ns()
    async with (
        watcher.watch_removals(namespace) as removals,
        watcher.watch(namespace) as everything,
    ):
        await writer.put(session, namespace, "k", b"")
        assert await everything.wait(5) is True
        assert await removals.wait(0.3) is False
        await writer.delete(namespace, "k")
        assert await removals.wait(5) is True
        assert removals.removed == frozenset({"k"})


async def test_a_waiter_hears_only_once_nothing_is_ahead_of_it(
    open_redis: OpenRedis,
) -> None:
    """An exclusive waiter listens on its session's inbox: a hand-over wakes the next waiter
    only, once nothing is ahead of it (the entry ahead deleted or ended with its session)."""
    watcher, writer = await open_redis(), await open_redis()
    first, second = await writer.create_session(), await writer.create_session()
    mine = await watcher.create_session()
    namespace = ns()
    await writer.put(first, namespace, "a", b"")
    await writer.put(second, namespace, "b", b"")
    await watcher.put(mine, namespace, "c", b"")
    await watcher.put(mine, namespace, "d", b"")
    async with (
        watcher.watch_ahead(namespace, mine, "c") as c_waits,
        watcher.watch_ahead(namespace, mine, "d") as d_waits,
    ):
        await writer.end_session(second)  # takes b, but a is still ahead of c
        assert await c_waits.wait(0.3) is False
        await writer.delete(namespace, "a")  # now nothing is ahead of c
        assert await c_waits.wait(5) is True
        assert c_waits.ahead == frozenset()
        assert await d_waits.wait(0.3) is False
        await writer.put(first, namespace, "e", b"")  # behind everyone: wakes nobody
        await watcher.delete(namespace, "c")
        assert await d_waits.wait(5) is True
        assert d_waits.ahead == frozenset()
        assert await c_waits.wait(0.3) is False


async def test_the_head_hears_when_a_dead_entry_ahead_is_purged_or_its_own_session_ends(
    open_redis: OpenRedis,
) -> None:
    watcher, writer = await open_redis(lease=30.0), await open_redis()
    doomed = await writer.create_session()  # never renewed: gone after its 1 s lease
    mine, other = await watcher.create_session(), await watcher.create_session()
    namespace = ns()
    await writer.put(doomed, namespace, "a", b"")
    await watcher.put(mine, namespace, "b", b"")
    await watcher.put(other, namespace, "c", b"")
    async with (
        watcher.watch_ahead(namespace, mine, "b") as b_waits,
        watcher.watch_ahead(namespace, other, "c") as c_waits,
    ):
        await asyncio.sleep(1.2)
        assert [e.key for e in await writer.entries(namespace)] == ["b", "c"]  # purges a
        assert await b_waits.wait(5) is True
        assert b_waits.ahead == frozenset()
        # an entry that goes with its session is announced to that session, so a waiter
        # whose session ended queues again at once
        await writer.end_session(other)
        assert await c_waits.wait(5) is True
        assert c_waits.removed == {"c"}


async def test_a_queue_that_does_not_match_the_entries_is_rebuilt_and_the_head_reads_again(
    open_redis: OpenRedis, raw: Any, key_prefix: str
) -> None:
    """A queue that lost a member, or was lost, is caught by its size and rebuilt, and the
    head reads the namespace rather than hear "nothing ahead". (A queue edited by hand so
    that its size still matches is not caught: that would cost a full read per removal.)"""
    watcher, writer = await open_redis(), await open_redis()
    theirs, mine = await writer.create_session(), await watcher.create_session()
    namespace = ns()
    queue = f"{key_prefix}q:{namespace}"
    for key in ("a", "b"):
        await writer.put(theirs, namespace, key, b"")
    await watcher.put(mine, namespace, "c", b"")
    assert await raw.zcard(queue) == 3
    await raw.zrem(queue, "b")  # the queue forgot b, which is still ahead of c
    async with watcher.watch_ahead(namespace, mine, "c") as watch:
        await writer.delete(namespace, "a")  # rebuilt: b is the head, not c
        assert await raw.zrange(queue, 0, -1) == [b"b", b"c"]
        assert await watch.wait(0.3) is False
        await raw.delete(queue)  # the queue gone altogether
        await writer.delete(namespace, "b")
        assert await watch.wait(5) is True
        assert watch.removed is None  # rebuilt, and "read the namespace", to be safe
    assert await raw.zrange(queue, 0, -1) == [b"c"]


async def test_news_on_an_inbox_that_is_not_ours_or_not_readable_breaks_nothing(
    open_redis: OpenRedis, raw: Any
) -> None:
    watcher, writer = await open_redis(), await open_redis()
    theirs, mine = await writer.create_session(), await watcher.create_session()
    namespace = ns()
    await writer.put(theirs, namespace, "a", b"")
    await watcher.put(mine, namespace, "b", b"")
    inbox = watcher.inbox(mine)
    async with watcher.watch_ahead(namespace, mine, "b") as watch:
        connection = watcher._hub.connection
        await raw.publish(inbox, b"no separator")
        await raw.publish(inbox, f"{namespace}\0other".encode())  # another entry's news
        assert await watch.wait(0.3) is False
        await raw.publish(inbox, f"{namespace}\0b\0unheard-of".encode())
        assert await watch.wait(5) is True
        assert watch.removed is None  # what it cannot read is a reason to read again
        await writer.delete(namespace, "a")
        assert await watch.wait(5) is True
        assert watch.ahead == frozenset()
        assert watcher._hub.connection is connection  # the pub/sub connection stayed up


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
    # the subscription lingers a while, so a watch opened again soon costs no round trip ...
    assert await raw.pubsub_numsub(channel) == [(channel, 1)]
    async with watcher.watch(one) as again:
        waiting = asyncio.create_task(again.wait(5))
        await writer.delete(one, "k")
        assert await waiting is True
        assert again.removed == frozenset({"k"})
        await writer.put(session, one, "k", b"")
    # ... and ends once no watch used it for ``linger`` seconds
    watcher._hub.linger = 0.0
    async with watcher.watch(two):
        pass
    assert await raw.pubsub_numsub(channel) == [(channel, 0)]
    assert await raw.pubsub_numsub(watcher.channel(two)) == [(watcher.channel(two), 0)]
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
    with pytest.raises(InvalidURL, match="one host"):
        make_redis("redis://h1:6379,h2:6379/0")
    with pytest.raises(InvalidURL, match="database number"):
        make_redis("redis://127.0.0.1:6379/db")
    assert make_redis(str(url)).key_prefix == "anker:coord:"
    with pytest.raises(InvalidOption, match=r"'socket_timeout' .* unknown option"):
        await Coordinator.connect(f"{redis_url}?socket_timeout=1")


async def test_a_cancelled_call_is_cancelled_and_leaves_the_backend_usable(
    open_redis: OpenRedis,
) -> None:
    backend = await open_redis()
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
    # the session starts after the loop: nothing renews it here, and on a loaded machine the
    # 200 rounds can outlast its lease
    session = await backend.create_session()
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


async def test_a_script_the_server_forgot_is_sent_again_and_errors_are_raised(
    open_redis: OpenRedis,
) -> None:
    from anker.coordination.backends.redis._resp import _pack_arguments

    backend = await open_redis()
    session = await backend.create_session()
    # as after a restart or SCRIPT FLUSH (without flushing the shared server): an unknown sha
    source = backend._scripts["put"][1]
    unknown = _pack_arguments(b"EVALSHA", b"0" * 40, b"0", backend.key_prefix)
    backend._scripts["put"] = (unknown, source)
    namespace = ns()
    token = await backend.put(session, namespace, "k", b"v")
    assert [entry.token for entry in await backend.entries(namespace)] == [token]
    # an error reply raises, and the connection it came on stays usable or is replaced
    backend._scripts["put"] = (unknown, "return redis.call('NO-SUCH-COMMAND')")
    with pytest.raises(Exception, match=r"(?i)unknown"):
        await backend.put(session, namespace, "k2", b"v")
    assert [entry.key for entry in await backend.entries(namespace)] == ["k"]


async def test_replies_are_parsed_whole_or_in_pieces() -> None:
    from anker.coordination.backends.redis._resp import _read_reply, _ReplyError

    replies = {
        b":5\r\n": 5,
        b"*4\r\n:1\r\n$3\r\nabc\r\n_\r\n$-1\r\n": [1, b"abc", None, None],
        b"*2\r\n*1\r\n$0\r\n\r\n~1\r\n,1.5\r\n": [[b""], [1.5]],
        b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n:7\r\n": 7,  # a push, then the reply
        b"#t\r\n": True,
        b"%1\r\n+a\r\n(12\r\n": [b"a", 12],
    }
    for data, expected in replies.items():
        for size in (1, 3, len(data)):
            reader = asyncio.StreamReader()
            for start in range(0, len(data), size):
                reader.feed_data(data[start : start + size])
            assert await _read_reply(reader) == expected
        # and arriving later, piece by piece
        reader = asyncio.StreamReader()
        reading = asyncio.create_task(_read_reply(reader))
        for byte in data:
            await asyncio.sleep(0)
            reader.feed_data(bytes([byte]))
        assert await reading == expected
    reader = asyncio.StreamReader()
    reader.feed_data(b"-NOSCRIPT No matching script\r\n")
    error = await _read_reply(reader)
    assert isinstance(error, _ReplyError)
    assert error.message.startswith("NOSCRIPT")
    reader = asyncio.StreamReader()
    reader.feed_data(b":1\r\n")
    reader.feed_eof()
    assert await _read_reply(reader) == 1
    reader = asyncio.StreamReader()
    reader.feed_data(b"$5\r\nab")
    reader.feed_eof()
    with pytest.raises(ConnectionError):
        await _read_reply(reader)
    reader = asyncio.StreamReader()
    reader.feed_data(b":1\r\n:2\r\n")
    with pytest.raises(ConnectionError):
        await _read_reply(reader)
