"""What is particular to the zookeeper:// coordination backend: URL options, where nodes live,
ending sessions across backend objects, disconnections, and kazoo's threads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from anker._drivers import prepare_driver
from anker._url import parse_url
from anker.coordination import BackendUnavailable, Coordinator
from anker.coordination.backends import Backend, SessionExpired
from anker.coordination.backends.zookeeper import ZooKeeperBackend
from tcp_proxy import TCPProxy, through

pytestmark = pytest.mark.integration

OpenZK = Callable[..., Awaitable[ZooKeeperBackend]]


def make_zk(url: str, **options: object) -> ZooKeeperBackend:
    options = {"lease": 1.0, "timeout": 1.0, **options}
    backend = prepare_driver("anker.coordination.backends", url, Backend, options)
    assert isinstance(backend, ZooKeeperBackend)
    return backend


@pytest.fixture
async def open_zk(zookeeper_url: str) -> AsyncIterator[OpenZK]:
    opened: list[Backend] = []

    async def open_(url: str = zookeeper_url, lease: float = 1.0, **options: str) -> Any:
        settings = {"lease": lease, "timeout": 5.0, **options}
        backend = prepare_driver("anker.coordination.backends", url, Backend, settings)
        await backend.connect()
        opened.append(backend)
        return backend

    yield open_
    for backend in opened:
        await backend.aclose()


@pytest.fixture
def kazoo(zookeeper_url: str) -> Iterator[Any]:
    """A plain kazoo client, to look at the nodes behind the driver's back."""
    from kazoo.client import KazooClient

    hosts = ",".join(f"{e.host}:{e.port or 2181}" for e in parse_url(zookeeper_url).endpoints)
    client = KazooClient(hosts=hosts, timeout=5)
    client.start(timeout=5)
    yield client
    client.stop()
    client.close()


def ns() -> str:
    return f"t{uuid.uuid4().hex[:12]}/lock/x"


def test_the_url_gives_hosts_and_the_root_node() -> None:
    backend = make_zk("zookeeper://h1,h2:2182,[::1]:2183?root=/svc/coord/")
    assert backend.hosts == "h1:2181,h2:2182,[::1]:2183"
    assert backend.root == "/svc/coord"
    assert make_zk("zookeeper://h1", root="other").root == "/other"
    assert make_zk("zookeeper://h").root == "/anker/coord"
    with pytest.raises(ValueError, match="takes no path"):
        make_zk("zookeeper://h/chroot")
    with pytest.raises(ValueError, match="needs a host"):
        make_zk("zookeeper:///x")
    with pytest.raises(ValueError, match="a node path such as"):
        make_zk("zookeeper://h", root="/")
    with pytest.raises(ValueError, match="given twice"):
        make_zk("zookeeper://h?root=a", root="b")


async def test_entries_are_ephemeral_nodes_under_the_root_with_the_czxid_as_token(
    zookeeper_url: str, open_zk: OpenZK, kazoo: Any
) -> None:
    root = f"/anker-test/{uuid.uuid4().hex[:12]}"
    backend = await open_zk(f"{zookeeper_url}?root={root}")
    session = await backend.create_session()
    token = await backend.put(session, "lock/a b", "k/1", b"value")
    path = f"{root}/lock%2Fa%20b/k%2F1"
    value, stat = await asyncio.to_thread(kazoo.get, path)
    assert value == b"value"
    assert stat.czxid == token
    assert f"0x{stat.ephemeralOwner:016x}" == session
    (entry,) = await backend.entries("lock/a b")
    assert (entry.key, entry.token, entry.session) == ("k/1", token, session)
    assert await backend.namespaces("lock/") == ["lock/a b"]
    await backend.end_session(session)
    assert await asyncio.to_thread(kazoo.exists, path) is None
    await asyncio.to_thread(kazoo.delete, "/anker-test", recursive=True)


async def test_another_backend_object_ends_a_session_at_once(open_zk: OpenZK) -> None:
    owner, other = await open_zk(), await open_zk()
    session = await owner.create_session()
    namespace = ns()
    await owner.put(session, namespace, "k", b"")
    await other.end_session(session)
    assert await other.entries(namespace) == []
    with pytest.raises(SessionExpired):
        await owner.renew_session(session)
    with pytest.raises(SessionExpired):
        await owner.put(session, namespace, "k2", b"")


async def test_a_disconnection_is_not_an_expiry_and_the_session_survives_a_short_one(
    zookeeper_url: str, open_zk: OpenZK
) -> None:
    from kazoo.exceptions import KazooException

    address = parse_url(zookeeper_url).endpoints[0]
    proxy = TCPProxy((address.host, address.port or 2181))
    await proxy.start()
    try:
        backend = await open_zk(through(zookeeper_url, proxy.port), lease=3.0)
        observer = await open_zk()
        session = await backend.create_session()
        namespace = ns()
        await backend.put(session, namespace, "k", b"")
        await proxy.cut()
        with pytest.raises((ConnectionError, KazooException)) as raised:
            await backend.renew_session(session)
        assert not isinstance(raised.value, SessionExpired)
        await proxy.restore()
        deadline = time.monotonic() + 2.0
        while True:  # kazoo reconnects on its own, well within the 3 s session timeout
            try:
                await backend.renew_session(session)
                break
            except (ConnectionError, KazooException):
                assert time.monotonic() < deadline, "no reconnection"
                await asyncio.sleep(0.05)
        assert [e.session for e in await observer.entries(namespace)] == [session]
    finally:
        await proxy.cut()


async def test_a_watch_outlives_the_deletion_of_its_namespace_node_and_never_makes_one(
    open_zk: OpenZK, kazoo: Any
) -> None:
    """A watch on a namespace with no node watches for its creation: making the node would
    leave it behind (a container the server never deletes, as it never held an entry)."""
    watcher, writer = await open_zk(), await open_zk()
    session = await writer.create_session()
    namespace = ns()
    path = watcher._path(namespace)
    async with watcher.watch(namespace) as watch:
        assert await asyncio.to_thread(kazoo.exists, path) is None
        await writer.put(session, namespace, "first", b"")
        assert await watch.wait(5)
        while await watch.wait(0.3):  # until the child watch is set on the new node
            pass
        await writer.delete(namespace, "first")
        assert await watch.wait(5)
        await asyncio.to_thread(kazoo.delete, path)  # as the server deletes an empty container
        assert await watch.wait(5)  # a spurious wake-up is allowed
        while await watch.wait(0.3):  # until the watch is back, for the node's creation
            pass
        assert await asyncio.to_thread(kazoo.exists, path) is None
        await writer.put(session, namespace, "k", b"")
        assert await watch.wait(5)
    assert [e.key for e in await watcher.entries(namespace)] == ["k"]


async def test_a_put_makes_its_namespace_node_again_as_a_container(
    zookeeper_url: str, open_zk: OpenZK, kazoo: Any
) -> None:
    root = f"/anker-test/{uuid.uuid4().hex[:12]}"
    backend = await open_zk(f"{zookeeper_url}?root={root}")
    session = await backend.create_session()
    path = backend._path("lock/x")
    first = await backend.put(session, "lock/x", "a", b"")
    await backend.delete("lock/x", "a")
    for gone in (path, root):  # deleted under the put's feet, as the server may; root too
        await asyncio.to_thread(kazoo.delete, gone, recursive=True)
        token = await backend.put(session, "lock/x", "b", b"")
        assert token > first
        first = token
        assert [e.key for e in await backend.entries("lock/x")] == ["b"]
        await backend.delete("lock/x", "b")
    await asyncio.to_thread(kazoo.delete, root, recursive=True)


# ------------------------------------------------ a private server that reaps containers often
class PrivateZooKeeper:
    """A ZooKeeper server of the tests' own, on a free port, that deletes empty container
    nodes every 100 ms (not every minute, as the shared one does)."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        (directory / "data").mkdir()
        (directory / "zoo.cfg").write_text(
            f"tickTime=500\ndataDir={directory / 'data'}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
            "4lw.commands.whitelist=srvr\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n"
        )
        self.url = f"zookeeper://127.0.0.1:{self.port}"
        guard = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        self._process = subprocess.Popen(
            [
                *guard,
                *("java", "-Xmx128m", "-Dznode.container.checkIntervalMs=100"),
                *("-cp", f"{directory}:{ZOOKEEPER_JAR}"),
                "org.apache.zookeeper.server.ZooKeeperServerMain",
                str(directory / "zoo.cfg"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"srvr")
                    if sock.recv(100).startswith(b"Zookeeper version"):
                        return
            except OSError:
                pass
            assert self._process.poll() is None, "the private ZooKeeper exited"
            assert time.monotonic() < deadline, "the private ZooKeeper did not start in 30 s"
            time.sleep(0.05)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"


@pytest.fixture(scope="module")
def private_zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateZooKeeper]:
    if shutil.which("java") is None or not Path(ZOOKEEPER_JAR).exists():
        pytest.skip("ZooKeeper is not installed ('scripts/services --only zookeeper' does it)")
    server = PrivateZooKeeper(tmp_path_factory.mktemp("zookeeper"))
    try:
        server.ready()
        yield server
    finally:
        server.stop()


async def test_every_name_used_leaves_no_node_behind(private_zookeeper: PrivateZooKeeper) -> None:
    """Every lock, group and election name made a namespace node (131 after a short run, for
    good): each is a container now, which the server deletes once empty."""
    from kazoo.client import KazooClient

    url = private_zookeeper.url
    async with (
        await Coordinator.connect(url, lease=1.0, member_id="a") as a,
        await Coordinator.connect(url, lease=1.0, member_id="b") as b,
    ):
        async with a.lock("l"):
            assert not await b.lock("l").acquire(timeout=0.2)  # a waiter that gives up
        for _ in range(30):  # the same name again and again, while the server deletes it
            async with a.lock("busy"):
                pass
        async with a.semaphore("s", 2), a.rwlock("rw").read, b.rwlock("rw").read:
            pass
        group = a.group("g")
        await group.join()
        assert [m.id for m in await b.group("g").members()] == ["a"]
        await group.leave()
        election = a.election("e")
        await election.campaign()
        assert await election.wait_elected(5)
        await election.resign()
        await b.group("left-at-close").join()  # its entry goes with b's session
        assert await a.election("read-only").leader() is None  # reading makes no node
    client = KazooClient(hosts=f"127.0.0.1:{private_zookeeper.port}", timeout=5)
    await asyncio.to_thread(client.start, 5)
    try:
        changed = threading.Event()
        deadline = time.monotonic() + 10

        def children() -> list[str]:
            changed.clear()
            nodes: list[str] = client.get_children("/anker/coord", lambda _: changed.set())
            return nodes

        while left := await asyncio.to_thread(children):
            assert time.monotonic() < deadline, f"left behind: {sorted(left)}"
            await asyncio.to_thread(changed.wait, deadline - time.monotonic())
    finally:
        await asyncio.to_thread(client.stop)
        await asyncio.to_thread(client.close)


async def test_a_watch_is_registered_again_after_the_connection_drops(
    zookeeper_url: str, open_zk: OpenZK
) -> None:
    address = parse_url(zookeeper_url).endpoints[0]
    proxy = TCPProxy((address.host, address.port or 2181))
    await proxy.start()
    try:
        watcher = await open_zk(through(zookeeper_url, proxy.port))
        writer = await open_zk()
        session = await writer.create_session()
        namespace = ns()
        async with watcher.watch(namespace) as watch:
            await proxy.cut()
            assert await watch.wait(5)  # woken: changes may go unseen while disconnected
            await writer.put(session, namespace, "during", b"")
            await proxy.restore()
            assert await watch.wait(5)  # and again once the watch is back
            assert [e.key for e in await watcher.entries(namespace)] == ["during"]
            while await watch.wait(0.3):
                pass
            await writer.delete(namespace, "during")
            assert await watch.wait(5)
    finally:
        await proxy.cut()


def _our_threads() -> set[threading.Thread]:
    # asyncio's default executor keeps its worker threads until the loop closes
    return {t for t in threading.enumerate() if not t.name.startswith("asyncio_")}


async def test_closing_leaves_no_threads_behind(zookeeper_url: str) -> None:
    before = _our_threads()
    coordinator = await Coordinator.connect(zookeeper_url, lease=1.0)
    async with coordinator.lock("x"):
        await coordinator.group("g").join()
    backend = coordinator._backend
    extra = await backend.create_session()  # a second session, left to aclose
    await backend.put(extra, ns(), "k", b"")
    assert len(_our_threads() - before) >= 7  # two kazoo clients and the lease watchdog
    await coordinator.aclose()
    for thread in _our_threads() - before:
        thread.join(timeout=5)
        assert not thread.is_alive(), thread


async def test_an_unreachable_server_fails_in_time_without_leaking_threads_or_the_password() -> (
    None
):
    proxy = TCPProxy(("127.0.0.1", 9))
    await proxy.start()
    port = proxy.port
    await proxy.cut()  # nothing listens there now
    before = _our_threads()
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as raised:
        await Coordinator.connect(f"zookeeper://anker:s3cr3t-pw@127.0.0.1:{port}", timeout=1.0)
    assert time.monotonic() - started < 2.5
    assert "s3cr3t-pw" not in str(raised.value)
    for thread in _our_threads() - before:
        thread.join(timeout=5)
        assert not thread.is_alive(), thread


@pytest.mark.parametrize("credentials", ["", "anker:secret@"], ids=["anonymous", "digest"])
async def test_a_lease_longer_than_the_server_grants_is_refused(
    zookeeper_url: str, credentials: str
) -> None:
    """ZooKeeper shortens a session timeout above its maxSessionTimeout: with a session
    shorter than the lease, a holder could outlive its own entries (two holders).

    kazoo reports CONNECTED before it has finished the handshake (the digest auth round trip
    comes after): the granted timeout must be known by then, on every try, not most."""
    from anker.coordination import CoordinationError, Coordinator

    url = zookeeper_url.replace("://", f"://{credentials}", 1)
    for _ in range(5):
        with pytest.raises(CoordinationError, match=r"granted a \d+ s session for a 3600 s lease"):
            await Coordinator.connect(url, lease=3600, timeout=5)


@contextlib.asynccontextmanager
async def black_hole() -> AsyncIterator[int]:
    """A port that accepts connections and never answers; yields the port."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in held:
            writer.transport.abort()
        await server.wait_closed()


def refused_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("lease", [2.0, 4.0])
async def test_connect_keeps_to_its_timeout_and_says_whether_the_port_refused(
    lease: float,
) -> None:
    """kazoo waits a lease for the handshake's answer: closing its client after a failed
    connect must not wait for that (it took 2.1 s for a 1 s timeout)."""
    before = _our_threads()
    async with black_hole() as silent:
        for port, reason in ((silent, "no answer"), (refused_port(), "connection refused")):
            started = time.monotonic()
            with pytest.raises(BackendUnavailable) as raised:
                await Coordinator.connect(f"zookeeper://127.0.0.1:{port}", lease=lease, timeout=1)
            assert time.monotonic() - started < 1.5, reason
            assert raised.value.operation == "connect"
            assert str(raised.value).endswith(f"within 1 s: {reason}")
    for thread in _our_threads() - before:  # stopped in the background, within a lease
        thread.join(timeout=lease + 5)
        assert not thread.is_alive(), thread


def test_kazoo_says_nothing_on_stderr_when_logging_is_not_configured() -> None:
    script = """
import asyncio, socket
from anker.coordination import BackendUnavailable, Coordinator

async def main():
    held = []
    async def hold(reader, writer):
        held.append(writer)
    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        refused = sock.getsockname()[1]
    for port in (server.sockets[0].getsockname()[1], refused):
        try:
            await Coordinator.connect(f"zookeeper://127.0.0.1:{port}", timeout=1.5)
        except BackendUnavailable:
            print("unavailable")
    server.close()
    for writer in held:
        writer.transport.abort()

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["unavailable", "unavailable"]
    assert done.stderr == ""


async def test_kazoo_logs_through_ankers_logger_at_debug_without_credentials(
    zookeeper_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(1)  # everything, kazoo's wire tracing included
    url = zookeeper_url.replace("://", "://anker:s3cr3t-pw@", 1)
    async with await Coordinator.connect(url, lease=1.0) as coordinator, coordinator.lock("x"):
        pass
    with pytest.raises(BackendUnavailable):
        await Coordinator.connect(f"zookeeper://127.0.0.1:{refused_port()}", timeout=0.5)
    kazoo = [r for r in caplog.records if r.getMessage().startswith("kazoo: ")]
    assert any("Connecting to" in r.getMessage() for r in kazoo)
    assert any("Connection refused" in r.getMessage() for r in kazoo)
    assert {(r.name, r.levelno) for r in kazoo} == {("anker.coordination", logging.DEBUG)}
    assert not [r for r in caplog.records if r.name.startswith("kazoo")]
    assert any("Auth(" in r.getMessage() for r in kazoo)  # the login, with its password masked
    assert not [r for r in caplog.records if "s3cr3t-pw" in r.getMessage()]
    handshakes = [r.getMessage() for r in kazoo if "Connect(" in r.getMessage()]
    assert handshakes
    assert all("passwd=b'****'" in text for text in handshakes)  # the session's password
