"""anker.coordination's public surface, names, options and the pure parts (no server)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import anker.coordination
import anker.errors
from anker.cli import cli
from anker.coordination import (
    BlockingCoordinator,
    CoordinationError,
    Coordinator,
    InvalidName,
    LockTimeout,
    fencing,
)
from anker.coordination._names import MAX_NAME, check_name
from anker.coordination._partition import owner_of
from anker.coordination.backends import SERVER_EXPIRY
from anker.errors import CapabilityMissing, DriverNotFound, InvalidOption


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "it is empty"),
        ("a" * (MAX_NAME + 1), f"at most {MAX_NAME}"),
        ("has/slash", "'/'"),
        ("spa ce", "' '"),
        ("ünïcode", "'ïü'"),
        (".hidden", "it starts with '.'"),
        ("..", "it starts with '.'"),
        (42, "expected a string"),
    ],
)
def test_bad_names_are_refused_at_the_call_saying_why(name: object, reason: str) -> None:
    with pytest.raises(InvalidName) as raised:
        check_name("lock", name)
    assert reason in str(raised.value)
    assert "invalid lock name" in str(raised.value)


@given(st.text(max_size=200))
def test_a_name_is_either_accepted_unchanged_or_refused_with_invalid_name(text: str) -> None:
    try:
        result = check_name("group", text)
    except InvalidName as error:
        result = error.name
    assert result == text


async def test_names_are_checked_before_any_backend_call(tmp_path: Path) -> None:
    async with await Coordinator.connect(f"file://{tmp_path}") as coordinator:
        for make in (
            lambda: coordinator.lock("a/b"),
            lambda: coordinator.semaphore("", 2),
            lambda: coordinator.group("x y"),
            lambda: coordinator.election("-lead"),
        ):
            with pytest.raises(InvalidName):
                make()
        with pytest.raises(ValueError, match="limit must be a positive int"):
            coordinator.semaphore("s", 0)


async def test_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match=r"'lease' of the 'file://' .* at least 500ms, got 0"):
        await Coordinator.connect(f"file://{tmp_path}", lease=0.001)
    with pytest.raises(InvalidOption, match=r"'lease' .* a duration"):
        await Coordinator.connect(f"file://{tmp_path}", lease=[2])
    with pytest.raises(InvalidOption, match=r"'poll' .* from 1ms to 10s, got '0'"):
        await Coordinator.connect(f"file://{tmp_path}?poll=0")
    with pytest.raises(InvalidName, match="invalid member name"):
        await Coordinator.connect(f"file://{tmp_path}", member_id="a b")
    with pytest.raises(InvalidOption, match=r"'pol' of the 'file://'.*did you mean 'poll'"):
        await Coordinator.connect(f"file://{tmp_path}?pol=0.5")
    with pytest.raises(InvalidOption, match="given twice"):
        await Coordinator.connect(f"file://{tmp_path}?lease=3", lease=4)
    with pytest.raises(CapabilityMissing, match="'file://' coordination backend cannot do"):
        await Coordinator.connect(f"file://{tmp_path}", require=[SERVER_EXPIRY])
    async with await Coordinator.connect(
        f"file://{tmp_path}?lease=1500ms&timeout=2s", prefix="p"
    ) as coordinator:
        assert (coordinator.lease, coordinator.timeout) == (1.5, 2.0)
    with pytest.raises(DriverNotFound, match="did you mean 'redis://'"):
        await Coordinator.connect("rdis://127.0.0.1")
    async with await Coordinator.connect(
        f"file://{tmp_path}", lease=dt.timedelta(milliseconds=1500), member_id="m"
    ) as coordinator:
        assert coordinator.lease == 1.5
        assert coordinator.member_id == "m"


def test_weighted_rendezvous_is_stable_and_moves_few_keys() -> None:
    keys = [f"k{i}" for i in range(3000)]
    two = {"a": 1.0, "b": 1.0}
    three = {**two, "c": 1.0}
    before = {key: owner_of(key, two) for key in keys}
    after = {key: owner_of(key, three) for key in keys}
    moved = [key for key in keys if before[key] != after[key]]
    assert all(after[key] == "c" for key in moved)  # only to the newcomer
    assert 0.25 < len(moved) / len(keys) < 0.42  # about a third
    heavy = {key: owner_of(key, {"a": 1.0, "b": 3.0}) for key in keys}
    share = sum(1 for owner in heavy.values() if owner == "b") / len(keys)
    assert 0.70 < share < 0.80
    assert owner_of("k", {}) is None


def test_the_memory_fence_refuses_older_tokens_only() -> None:
    fence = fencing.Fence()
    fence.claim("r", 5)
    fence.claim("r", 5)  # one holder writes many times
    fence.claim("r", 7)
    with pytest.raises(fencing.StaleToken, match="fencing token 6 is stale"):
        fence.claim("r", 6)
    fence.claim("other", 1)
    create, claim = fencing.postgres_statements("my_fence")
    assert "my_fence" in create
    assert "fence.token <= EXCLUDED.token" in claim
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        fencing.postgres_statements("x; DROP TABLE y")


def test_the_blocking_coordinator_works_from_threads(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    with (
        BlockingCoordinator.connect(url, member_id="a") as a,
        BlockingCoordinator.connect(url, member_id="b") as b,
    ):
        inside, most = 0, 0
        guard = threading.Lock()

        def work(coordinator: BlockingCoordinator) -> None:
            nonlocal inside, most
            for _ in range(5):
                with coordinator.lock("x") as lock:
                    assert lock.held
                    assert lock.token > 0
                    with guard:
                        inside += 1
                        most = max(most, inside)
                    time.sleep(0.002)  # long enough for an unguarded overlap to show
                    with guard:
                        inside -= 1

        threads = [threading.Thread(target=work, args=(c,)) for c in (a, b, a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert most == 1
        with a.lock("held"):
            with pytest.raises(LockTimeout), b.lock("held", timeout=0.2):
                pass
            assert [(i.name, i.member) for i in b.locks()] == [("held", "a")]


def test_every_primitive_is_reachable_from_threads(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    with (
        BlockingCoordinator.connect(url, member_id="a") as a,
        BlockingCoordinator.connect(url, member_id="b") as b,
    ):
        rw_a, rw_b = a.rwlock("r"), b.rwlock("r")
        with rw_a.read as first, rw_b.read as second:  # readers share
            assert first.held
            assert second.held
            assert not b.rwlock("r").write.acquire(blocking=False)
        with rw_b.write as writer:
            assert writer.token > 0
            assert not rw_a.read.acquire(blocking=False)
        group = a.group("workers")
        group.join({"zone": "z1"})
        assert group.joined
        assert [(m.id, m.capabilities) for m in b.group("workers").members()] == [
            ("a", {"zone": "z1"})
        ]
        assert list(b.groups()) == ["workers"]
        group.leave()
        assert b.group("workers").members() == []
        election = a.election("scheduler")
        elected = threading.Event()
        election.campaign(on_elected=elected.set)
        assert election.wait_elected(5)
        assert elected.wait(5)
        assert election.is_leader
        assert election.token > 0
        assert b.election("scheduler").leader() == "a"
        assert b.leaders() == {"scheduler": "a"}
        election.resign()
        assert b.election("scheduler").leader() is None
        assert a.capabilities == frozenset()
        assert a.member_id == "a"


def test_the_cli_lists_locks_groups_and_leaders(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    with BlockingCoordinator.connect(url, member_id="svc-1", prefix="p") as holder:
        lock = holder.lock("volume-42")
        lock.acquire()
        from anker._runtime import run_blocking

        run_blocking(holder.coordinator.group("workers").join({"zone": "z1"}))
        election = holder.coordinator.election("scheduler")
        run_blocking(election.campaign())
        assert run_blocking(election.wait_elected(5))
        runner = CliRunner()
        base = ["coord", "--url", url, "--prefix", "p"]
        result = runner.invoke(cli, [*base, "locks", "--format", "json"])
        assert result.exit_code == 0, result.output
        (row,) = json.loads(result.output)
        assert (row["kind"], row["name"], row["member"], row["state"]) == (
            "lock",
            "volume-42",
            "svc-1",
            "held",
        )
        assert row["token"] == lock.token
        result = runner.invoke(cli, [*base, "groups"])
        assert result.exit_code == 0, result.output
        assert "workers" in result.output
        assert '{"zone": "z1"}' in result.output
        result = runner.invoke(cli, [*base, "leaders", "--format", "json"])
        assert json.loads(result.output) == [{"election": "scheduler", "leader": "svc-1"}]
        run_blocking(election.resign())
        lock.release()
    result = runner.invoke(cli, ["coord", "--url", url, "locks"])
    assert result.output.strip() == "(none)"


def test_the_cli_reports_errors_in_one_line() -> None:
    result = CliRunner().invoke(cli, ["coord", "locks"], env={"ANKER_COORDINATION_URL": ""})
    assert result.exit_code == 2
    assert "--url" in result.output
    result = CliRunner().invoke(cli, ["coord", "--url", "nope://x", "locks"])
    assert result.exit_code == 1
    assert "no anker.coordination.backends driver for 'nope://'" in result.output
    assert "Traceback" not in result.output


def test_coordination_errors_share_the_root() -> None:
    for name in anker.coordination.__all__:
        obj = getattr(anker.coordination, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, CoordinationError), name


@given(
    st.lists(st.sampled_from(["shared", "exclusive"]), max_size=12),
    st.integers(min_value=1, max_value=4),
)
def test_the_queue_grants_what_each_primitive_promises(modes: list[str], limit: int) -> None:
    from anker.coordination._backend import Entry
    from anker.coordination._lock import granted

    entries = [
        Entry(f"k{i}", json.dumps({"mode": mode}).encode(), i, "s", 0.0)
        for i, mode in enumerate(modes)
    ]
    # read/write lock: readers up to the first writer, or the first writer alone
    rw = [granted(entries, i, 1, mode) for i, mode in enumerate(modes)]  # type: ignore[arg-type]
    held = [mode for mode, ok in zip(modes, rw, strict=True) if ok]
    assert held in ([], ["exclusive"]) or set(held) == {"shared"}
    if modes:
        assert rw[0]  # the head always holds
    first_writer = modes.index("exclusive") if "exclusive" in modes else len(modes)
    assert sum(rw) == (first_writer or 1) if modes else sum(rw) == 0
    # semaphore: exactly the first `limit`
    sem = [granted(entries, i, limit, "exclusive") for i in range(len(entries))]
    assert sem == [i < limit for i in range(len(entries))]


async def test_a_lease_the_clock_says_is_over_is_lost_even_before_the_server_says_so(
    tmp_path: Path,
) -> None:
    """A process that was paused past its lease must not act on its lock, and must not keep
    the queue blocked if its session turns out to be alive after all."""
    url = f"file://{tmp_path}"
    async with (
        await Coordinator.connect(url, member_id="a") as a,
        await Coordinator.connect(url, member_id="b") as b,
    ):
        lock = a.lock("x")
        await lock.acquire()
        token = lock.token
        a._keeper.valid_until = 0.0  # as if the process had been paused for a lease
        assert lock.lost
        assert not lock.held
        with pytest.raises(anker.coordination.LockLost) as raised:
            lock.check()
        assert raised.value.token == token
        lost = await asyncio.wait_for(lock.wait_lost(), 5)
        assert lost.token == token
        # the session is alive on the server, yet the entry is gone: b is not blocked
        other = b.lock("x")
        assert await other.acquire(timeout=5)
        assert other.token > token
        await lock.release()  # releasing a lost lock does not raise


async def test_the_blocking_face_of_an_asyncio_coordinator_runs_on_its_loop(
    tmp_path: Path,
) -> None:
    async with await Coordinator.connect(f"file://{tmp_path}", member_id="a") as coordinator:
        blocking = coordinator.blocking()

        def in_a_thread() -> int:
            with blocking.lock("x") as lock:
                return lock.token

        token = await asyncio.to_thread(in_a_thread)
        assert token > 0
        assert await coordinator.locks() == []
        with pytest.raises(anker.errors.BlockingCallInEventLoop):
            blocking.locks()  # from the loop's own thread: would deadlock


async def test_an_event_watch_tells_what_was_removed_only_when_every_change_was_described() -> None:
    from anker.coordination.backends import EventWatch

    watch = EventWatch()
    assert await watch.wait(0) is False
    watch.added()
    watch.removed_entry("a")
    watch.removed_entry("b")
    assert await watch.wait(1) is True
    assert watch.removed == {"a", "b"}
    watch.added()
    assert await watch.wait(1) is True
    assert watch.removed == frozenset()  # new entries are never listed
    # a bare set() is a change the driver cannot describe: the waiter must read again
    watch.removed_entry("c")
    watch.changed.set()
    watch.removed_entry("d")
    assert await watch.wait(1) is True
    assert watch.removed is None
    watch.removed_entry("e")  # and the next wait starts afresh
    assert await watch.wait(1) is True
    assert watch.removed == {"e"}
    assert await watch.wait(0) is False


async def test_an_event_watch_keeps_the_latest_news_of_the_entries_ahead() -> None:
    from anker.coordination.backends import EventWatch

    watch = EventWatch()
    watch.removed_entry("x")
    assert await watch.wait(1) is True
    assert watch.ahead is None  # no news of the entries ahead: removed says what is known
    # two hand-overs before the waiter looked: entries ahead never come back, so the news
    # adds up by intersection, whatever order it is read in
    watch.ahead_now(frozenset({"a", "b"}))
    watch.ahead_now(frozenset({"b", "c"}))
    assert await watch.wait(1) is True
    assert watch.ahead == {"b"}
    assert watch.removed == frozenset()
    watch.ahead_now(frozenset())
    assert await watch.wait(1) is True
    assert watch.ahead == frozenset()  # nothing ahead: the waiter holds
    # a change the driver cannot describe wipes the news: the waiter must read again
    watch.ahead_now(frozenset({"a"}))
    watch.changed.set()
    watch.ahead_now(frozenset())
    assert await watch.wait(1) is True
    assert watch.removed is None
    assert watch.ahead is None


PUBSUB_STREAM = [
    (b"*3\r\n$9\r\nsubscribe\r\n$3\r\nc:x\r\n:1\r\n", [b"subscribe", b"c:x", 1]),
    (b"*3\r\n$7\r\nmessage\r\n$3\r\nc:x\r\n$3\r\n-k1\r\n", [b"message", b"c:x", b"-k1"]),
    (b"*2\r\n$4\r\npong\r\n$0\r\n\r\n", [b"pong", b""]),  # PING on a subscribed RESP2 link
    (
        b">3\r\n$7\r\nmessage\r\n$3\r\nw:s\r\n$4\r\na\x00\r\n\r\n",  # RESP3 push
        [b"message", b"w:s", b"a\x00\r\n"],
    ),
    (b"+PONG\r\n", b"PONG"),  # RESP3
]


@given(st.lists(st.sampled_from(range(len(PUBSUB_STREAM))), max_size=8), st.data())
def test_the_pubsub_reader_takes_whole_replies_however_the_bytes_arrive(
    picks: list[int], data: st.DataObject
) -> None:
    from anker.coordination.backends.redis._resp import _complete_replies

    stream = b"".join(PUBSUB_STREAM[i][0] for i in picks)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)))))
    got, pending = [], b""
    for start, stop in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        replies, pending = _complete_replies(pending + stream[start:stop])
        got.extend(replies)
    assert got == [PUBSUB_STREAM[i][1] for i in picks]
    assert pending == b""


async def test_a_missing_folder_is_never_created_and_a_new_database_is_private(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "typo" / "x.db"
    with pytest.raises(anker.coordination.BackendUnavailable, match=r"no folder .*typo"):
        await Coordinator.connect(f"sqlite://{missing}")
    with pytest.raises(anker.coordination.BackendUnavailable, match="no folder"):
        await Coordinator.connect(f"file://{tmp_path}/typo/dir")
    assert os.listdir(tmp_path) == []
    with pytest.raises(anker.coordination.BackendUnavailable, match="no database at"):
        await Coordinator.connect(f"sqlite://{tmp_path}/x.db?create=false")
    assert os.listdir(tmp_path) == []
    async with await Coordinator.connect(f"sqlite://{tmp_path}/x.db"):
        assert os.stat(tmp_path / "x.db").st_mode & 0o777 == 0o600
    async with await Coordinator.connect(f"file://{tmp_path}/dir"):
        assert os.stat(tmp_path / "dir").st_mode & 0o777 == 0o700
        assert os.stat(tmp_path / "dir" / "coordination.db").st_mode & 0o777 == 0o600
    async with await Coordinator.connect(f"sqlite://{tmp_path}/x.db?create=false") as reader:
        assert await reader.locks() == []


def test_releasing_a_fresh_rwlock_side_says_each_access_makes_a_new_one(tmp_path: Path) -> None:
    """``rw.read.acquire()`` then ``rw.read.release()`` touches two sides: the error says so
    instead of claiming the read lock (which is held) is not held."""
    with BlockingCoordinator.connect(f"file://{tmp_path}", member_id="a") as coord:
        rw = coord.rwlock("catalog")
        side = rw.read
        assert side.acquire(timeout=0)
        with pytest.raises(CoordinationError, match=r"each access to \.read or \.write"):
            rw.read.release()
        side.release()
        with pytest.raises(CoordinationError, match=r"^lock 'plain' is not held$"):
            coord.lock("plain").release()
