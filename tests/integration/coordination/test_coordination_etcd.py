"""What the etcd driver does beyond the backend contract: one lease per session, its key layout,
URL options, moving past a refused host, reopening a broken watch, auth and TLS.

Tests that count leases, compact the history or turn auth on use an etcd server of their own
(the ``etcd`` binary on a free port), never the shared one.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from anker._drivers import prepare_driver
from anker._url import parse_url
from anker.coordination import BackendUnavailable, Coordinator
from anker.coordination.backends import Backend
from anker.coordination.backends.etcd import EtcdBackend
from anker.errors import InvalidOption
from tcp_proxy import TCPProxy, through

pytestmark = pytest.mark.integration


def make_etcd(url: str, **options: object) -> EtcdBackend:
    """A backend as Coordinator.connect makes it (settings parsed), not yet connected."""
    backend = prepare_driver("anker.coordination.backends", url, Backend, options)
    assert isinstance(backend, EtcdBackend)
    return backend


LEASE = 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class PrivateEtcd:
    """A one-member etcd cluster of one test's own, on free ports (optionally with TLS)."""

    def __init__(self, directory: Path, *, tls: bool = False) -> None:
        self.port = _free_port()
        self.cafile: Path | None = None
        self.certfile: Path | None = None
        self.keyfile: Path | None = None
        scheme = "https" if tls else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}/v3"
        peer = f"http://127.0.0.1:{_free_port()}"
        client = f"{scheme}://127.0.0.1:{self.port}"
        self.args = [
            "etcd",
            *("--name", "private", "--data-dir", str(directory / "data")),
            *("--listen-client-urls", client, "--advertise-client-urls", client),
            *("--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer),
            *("--initial-cluster", f"private={peer}", "--logger", "zap", "--log-level", "error"),
        ]
        if tls:
            key, self.cafile = directory / "key.pem", directory / "cert.pem"
            # the gateway refuses a client certificate with a CN while auth is on: none here
            self.certfile, self.keyfile = directory / "client.pem", directory / "client-key.pem"
            for cert, private, subject in (
                (self.cafile, key, "/CN=127.0.0.1"),
                (self.certfile, self.keyfile, "/O=anker-test"),
            ):
                subprocess.run(
                    [
                        *("openssl", "req", "-x509", "-newkey", "ec", "-nodes", "-days", "1"),
                        *("-pkeyopt", "ec_paramgen_curve:prime256v1", "-subj", subject),
                        *("-keyout", str(private), "-out", str(cert)),
                        *("-addext", "subjectAltName=IP:127.0.0.1"),
                    ],
                    capture_output=True,
                    check=True,
                )
            trusted = directory / "trusted.pem"
            trusted.write_bytes(self.cafile.read_bytes() + self.certfile.read_bytes())
            self.args += ["--cert-file", str(self.cafile), "--key-file", str(key)]
            self.args += ["--client-cert-auth", "--trusted-ca-file", str(trusted)]
        self.url = f"etcd://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # setpriv: a test run that is killed leaves no etcd behind
        guard = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        self._process = subprocess.Popen(
            [*guard, *self.args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request to the server's v3 gateway, as its operator (before auth is on)."""
        import httpx

        verify: ssl.SSLContext | bool = True
        if self.cafile:
            verify = ssl.create_default_context(cafile=self.cafile)
            verify.load_cert_chain(str(self.certfile), self.keyfile)
        async with httpx.AsyncClient(verify=verify, timeout=5, trust_env=False) as client:
            response = await client.post(self.base + path, json=body)
        answer: dict[str, Any] = response.raise_for_status().json()
        return answer

    async def ready(self) -> None:
        import httpx

        deadline = time.monotonic() + 10
        while True:
            try:
                await self.call("/maintenance/status", {})
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the private etcd did not start within 10 s"
                await asyncio.sleep(0.02)

    async def leases(self) -> set[str]:
        answer = await self.call("/lease/leases", {})
        return {f"{int(lease['ID']):016x}" for lease in answer.get("leases", [])}


@pytest.fixture
def etcd_binary() -> None:
    if shutil.which("etcd") is None:
        pytest.skip("the etcd binary is not installed ('scripts/services --only etcd' installs it)")


@pytest.fixture
async def private_etcd(tmp_path: Path, etcd_binary: None) -> AsyncIterator[PrivateEtcd]:
    server = PrivateEtcd(tmp_path)
    server.start()
    try:
        await server.ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def open_etcd() -> AsyncIterator[Any]:
    """Open raw etcd backends from URLs; all closed at the end."""
    opened: list[EtcdBackend] = []

    async def open_(url: str, timeout: float = 5.0, **options: str) -> EtcdBackend:
        backend = make_etcd(url, lease=LEASE, timeout=timeout, **options)
        await backend.connect()
        opened.append(backend)
        return backend

    yield open_
    for backend in opened:
        await backend.aclose()


async def drained(watch: Any) -> None:
    """Consume the wake-ups a watch has pending (a reopened watch may wake more than once)."""
    while await watch.wait(0.5):
        pass


# ---------------------------------------------------------------------- sessions
async def test_one_lease_per_session_never_one_per_lock(private_etcd: PrivateEtcd) -> None:
    coordinator = await Coordinator.connect(private_etcd.url, lease=LEASE, prefix="leases")
    try:
        session = coordinator._keeper.session
        assert await private_etcd.leases() == {session}
        for _ in range(50):
            async with coordinator.lock("l") as lock:
                assert lock.token > 0
        # still the one lease, holding nothing now; etcd raises a 1 s lease to its 2 s minimum
        assert await private_etcd.leases() == {session}
        assert session is not None
        alive = await private_etcd.call(
            "/lease/timetolive", {"ID": str(int(session, 16)), "keys": True}
        )
        assert alive.get("keys", []) == []
        assert int(alive["grantedTTL"]) >= LEASE
    finally:
        await coordinator.aclose()
    assert await private_etcd.leases() == set(), "closing the coordinator revokes its lease"


# ---------------------------------------------------------------------- layout
async def test_keys_live_under_root_with_the_session_as_lease(
    etcd_url: str, open_etcd: Any
) -> None:
    root = f"/anker-test/{uuid.uuid4().hex}"
    backend = await open_etcd(etcd_url, root=root)
    session = await backend.create_session()
    key = "odd/key%with slash"
    token = await backend.put(session, "lock/x", key, b"value")
    answer = await backend._call(
        "/kv/range",
        {"key": b64(f"{root}/lock/x/".encode()), "range_end": b64(f"{root}/lock/x0".encode())},
    )
    (kv,) = answer["kvs"]
    assert base64.b64decode(kv["key"]).decode() == f"{root}/lock/x/odd%2Fkey%25with%20slash"
    assert int(kv["create_revision"]) == token
    assert f"{int(kv['lease']):016x}" == session
    created, _, value = base64.b64decode(kv["value"]).partition(b"\n")
    assert value == b"value"
    assert abs(float(created) - time.time()) < 60
    (entry,) = await backend.entries("lock/x")
    assert (entry.key, entry.value, entry.token, entry.session) == (key, b"value", token, session)
    await backend.end_session(session)


async def test_a_namespace_holds_neither_longer_nor_nested_namespaces(
    etcd_url: str, open_etcd: Any
) -> None:
    backend = await open_etcd(etcd_url)
    session = await backend.create_session()
    base = f"t{uuid.uuid4().hex[:12]}/lock/"
    for namespace in ("x", "xy", "x/y"):
        await backend.put(session, base + namespace, "k", namespace.encode())
    assert [e.value for e in await backend.entries(base + "x")] == [b"x"]
    assert [e.value for e in await backend.entries(base + "x/y")] == [b"x/y"]
    assert await backend.namespaces(base) == [base + "x", base + "x/y", base + "xy"]
    assert await backend.namespaces(base + "x") == [base + "x", base + "x/y", base + "xy"]
    await backend.end_session(session)


def test_url_forms() -> None:
    def backend(url: str, **options: str) -> EtcdBackend:
        return make_etcd(url, lease=LEASE, timeout=1.0, **options)

    assert backend("etcd://h1,h2:2380,[::1]")._bases == [
        "http://h1:2379/v3",
        "http://h2:2380/v3",
        "http://[::1]:2379/v3",
    ]
    assert backend("etcd://h?tls=true")._bases == ["https://h:2379/v3"]
    assert backend("etcd://h?root=/svc/locks/").root == "/svc/locks"
    assert backend("etcd://h", root="/b").root == "/b"
    with pytest.raises(InvalidOption, match="given twice"):
        backend("etcd://h?root=/a", root="/b")
    assert backend("etcd://h").root == "/anker/coord"
    with pytest.raises(ValueError, match="root="):
        backend("etcd://h/svc")
    with pytest.raises(ValueError, match="needs a host"):
        backend("etcd:///")


# ---------------------------------------------------------------------- failures
async def test_a_host_that_refuses_is_skipped(etcd_url: str, open_etcd: Any) -> None:
    endpoint = parse_url(etcd_url).endpoints[0]
    url = f"etcd://127.0.0.1:{_free_port()},{endpoint.host}:{endpoint.port or 2379}"
    backend = await open_etcd(url, timeout=2.0)
    namespace = f"t{uuid.uuid4().hex[:12]}/lock/x"
    session = await backend.create_session()
    async with backend.watch(namespace) as watch:
        token = await backend.put(session, namespace, "k", b"")
        assert await watch.wait(5)
    assert [e.token for e in await backend.entries(namespace)] == [token]
    await backend.end_session(session)


async def test_a_closed_watch_stream_is_taken_over_then_closed_after_a_while(
    etcd_url: str, open_etcd: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anker.coordination.backends import etcd

    watcher, writer = await open_etcd(etcd_url), await open_etcd(etcd_url)
    namespace = f"t{uuid.uuid4().hex[:12]}/lock/x"
    session = await writer.create_session()
    async with watcher.watch(namespace) as first:
        await writer.put(session, namespace, "a", b"")
        assert await first.wait(5)
    (task,) = watcher._watches
    for key in ("b", "c"):
        # taken over (same stream, no round trip), with nothing of before reported as new
        async with watcher.watch(namespace) as again:
            assert again is first
            assert watcher._watches == {task}
            assert not again.changed.is_set()
            await writer.delete(namespace, "a" if key == "b" else "b")
            assert await again.wait(5)
            assert again.removed == frozenset({"a" if key == "b" else "b"})
            await writer.put(session, namespace, key, b"")
            await drained(again)
    # two watches at once: the second opens a stream of its own
    async with watcher.watch(namespace) as one, watcher.watch(namespace) as two:
        assert one is not two
        await writer.delete(namespace, "c")
        assert await one.wait(5)
        assert await two.wait(5)
    assert len(watcher._watches) == 2
    # the idle streams close after LINGER seconds
    monkeypatch.setattr(etcd, "LINGER", 0.05)
    async with watcher.watch(namespace), watcher.watch(namespace), watcher.watch(namespace):
        pass
    for _ in range(100):
        if not watcher._watches:
            break
        await asyncio.sleep(0.05)
    assert not watcher._watches
    assert not watcher._idle
    await writer.end_session(session)


async def test_a_removals_only_watch_is_not_woken_by_new_entries(
    etcd_url: str, open_etcd: Any
) -> None:
    """Lock waiters ask for removals only; etcd then leaves puts out of the stream (NOPUT),
    and a stream of that kind is not taken over by a watch that wants every change."""
    watcher, writer = await open_etcd(etcd_url), await open_etcd(etcd_url)
    namespace = f"t{uuid.uuid4().hex[:12]}/lock/x"
    session = await writer.create_session()
    async with watcher.watch_removals(namespace) as removals:
        await writer.put(session, namespace, "a", b"")
        assert await removals.wait(0.5) is False
        await writer.delete(namespace, "a")
        assert await removals.wait(5) is True
        assert removals.removed == frozenset({"a"})
    async with watcher.watch(namespace) as everything:
        assert everything is not removals
        await writer.put(session, namespace, "b", b"")
        assert await everything.wait(5) is True
    await writer.end_session(session)


async def test_a_broken_watch_stream_is_reopened_and_misses_nothing(
    etcd_url: str, open_etcd: Any
) -> None:
    endpoint = parse_url(etcd_url).endpoints[0]
    proxy = TCPProxy((endpoint.host, endpoint.port or 2379))
    await proxy.start()
    try:
        watcher = await open_etcd(through(etcd_url, proxy.port))
        writer = await open_etcd(etcd_url)
        session = await writer.create_session()
        namespace = f"t{uuid.uuid4().hex[:12]}/lock/x"
        async with watcher.watch(namespace) as watch:
            await proxy.cut()
            revision = await writer.put(session, namespace, "during-the-cut", b"")
            await proxy.restore()
            assert await watch.wait(10) is True
            # the wake-up alone would come from the reopening; the replay shows in the
            # revision the stream has seen, which includes the change made during the cut
            deadline = asyncio.get_running_loop().time() + 10
            while watch._revision < revision:  # type: ignore[attr-defined]
                assert asyncio.get_running_loop().time() < deadline, "the change was not replayed"
                await asyncio.sleep(0.02)
            await drained(watch)
            await writer.put(session, namespace, "after", b"")  # the reopened stream works
            assert await watch.wait(5) is True
        await writer.end_session(session)
    finally:
        await proxy.cut()


async def test_a_watch_whose_history_was_compacted_away_starts_afresh(
    private_etcd: PrivateEtcd, open_etcd: Any
) -> None:
    proxy = TCPProxy(("127.0.0.1", private_etcd.port))
    await proxy.start()
    try:
        watcher = await open_etcd(through(private_etcd.url, proxy.port))
        writer = await open_etcd(private_etcd.url)
        session = await writer.create_session()
        async with watcher.watch("lock/x") as watch:
            await proxy.cut()
            await writer.put(session, "lock/x", "a", b"")
            await writer.delete("lock/x", "a")
            revision = (await private_etcd.call("/kv/range", {"key": b64(b"-")}))["header"]
            await private_etcd.call(
                "/kv/compaction", {"revision": revision["revision"], "physical": True}
            )
            await proxy.restore()
            assert await watch.wait(10) is True
            await drained(watch)
            await writer.put(session, "lock/x", "b", b"")
            assert await watch.wait(5) is True
    finally:
        await proxy.cut()


# ---------------------------------------------------------------------- auth and TLS
@pytest.fixture
async def secured_etcd(tmp_path: Path, etcd_binary: None) -> AsyncIterator[PrivateEtcd]:
    """A private etcd over TLS that wants a client certificate, with auth on: user ``anker``
    may use ``/anker/coord/``."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make the test server's certificate)")
    server = PrivateEtcd(tmp_path, tls=True)
    server.start()
    try:
        await server.ready()
        await enable_auth(server)
        yield server
    finally:
        server.stop()


async def enable_auth(server: PrivateEtcd) -> None:
    """Turn etcd's auth on: user ``anker`` may use ``/anker/coord/``."""
    coord = {"permType": "READWRITE", "key": b64(b"/anker/coord/")}
    coord["range_end"] = b64(b"/anker/coord0")
    for path, body in (
        ("/auth/role/add", {"name": "root"}),
        ("/auth/user/add", {"name": "root", "password": "r00t-pw"}),
        ("/auth/user/grant", {"user": "root", "role": "root"}),
        ("/auth/role/add", {"name": "coord"}),
        ("/auth/role/grant", {"name": "coord", "perm": coord}),
        ("/auth/user/add", {"name": "anker", "password": "s3cr3t-pw"}),
        ("/auth/user/grant", {"user": "anker", "role": "coord"}),
        ("/auth/enable", {}),
    ):
        await server.call(path, body)


async def test_no_credentials_for_a_server_with_auth_on_fail_at_connect(
    private_etcd: PrivateEtcd,
) -> None:
    """Not at the first acquire: the gateway grants a lease to anybody, auth or not."""
    await enable_auth(private_etcd)
    with pytest.raises(BackendUnavailable) as raised:
        await Coordinator.connect(private_etcd.url, timeout=2.0)
    assert raised.value.operation == "connect"
    assert "authentication required" in str(raised.value)
    base = private_etcd.url.replace("etcd://", "etcd://anker:s3cr3t-pw@")
    async with (
        await Coordinator.connect(base, timeout=2.0) as coordinator,
        coordinator.lock("x") as lock,
    ):
        assert lock.token > 0


async def test_auth_over_mutual_tls_and_a_token_the_host_does_not_take(
    secured_etcd: PrivateEtcd, open_etcd: Any
) -> None:
    base = secured_etcd.url.replace("etcd://", "etcd://anker:s3cr3t-pw@")
    url = f"{base}?cafile={secured_etcd.cafile}"
    url += f"&certfile={secured_etcd.certfile}&keyfile={secured_etcd.keyfile}"
    backend = await open_etcd(url)
    session = await backend.create_session()
    token = await backend.put(session, "lock/x", "k", b"v")
    assert [e.token for e in await backend.entries("lock/x")] == [token]
    # a token another member issued (or one that expired) is replaced, for calls and watches
    backend._token = "not-a-token"
    assert [e.token for e in await backend.entries("lock/x")] == [token]
    backend._token = "not-a-token"
    async with backend.watch("lock/x") as watch:
        await backend.delete("lock/x", "k")
        assert await watch.wait(5) is True
    await backend.end_session(session)

    with pytest.raises(BackendUnavailable) as raised:
        await Coordinator.connect(url.replace("s3cr3t-pw", "wrong-pw"), timeout=2.0)
    assert "authentication failed" in str(raised.value)
    assert "wrong-pw" not in str(raised.value)
    without_certificate = f"{base}?cafile={secured_etcd.cafile}"
    with pytest.raises(BackendUnavailable):
        await Coordinator.connect(without_certificate, timeout=2.0)
    with pytest.raises(BackendUnavailable):  # the system's CAs do not know the server
        await Coordinator.connect(f"{base}?tls=true", timeout=2.0)
