"""``etcd://host:2379[,host:2379...]``: coordination on etcd v3, through its JSON gateway.

**Layout.** An entry is the key ``<root>/<namespace>/<quote(key)>`` (``root`` defaults to
``/anker/coord``; the key is percent-quoted, so it has no ``/`` and a namespace's entries are
exactly the keys one segment below ``<root>/<namespace>/``). Its value is a small envelope, the
creation time on the client's clock (etcd keeps none) as text, a newline, then the entry's
value, so ``etcdctl get`` stays readable. The token is the key's ``create_revision``, the
session the key's lease (as 16 hex digits, like ``etcdctl lease list``).

**Sessions.** A session is one etcd lease of ``ceil(lease)`` seconds, granted once and renewed
by ``/v3/lease/keepalive``; every entry of the session is put with it, so ending the session is
one revoke, and etcd deletes a dead lease's keys itself and tells watchers (``server-expiry``).
etcd grants at least its minimum TTL (about 2 s with the default election timeout), so with a
shorter ``lease`` the server holds an entry a little longer than the coordinator counts on,
never shorter: the safe side. A keepalive answered with no TTL means the lease is gone.

**Order and atomicity.** ``put`` is one transaction: *if* the key's ``create_revision`` is 0
(it does not exist) *then* put it with the lease. etcd applies every write through one Raft log
and numbers the store's revisions in that order, cluster-wide and never reused (not after a
restart, not after a compaction), so ``create_revision`` is assigned at commit and tokens
strictly increase in commit order. ``entries`` is one linearizable range read over the
namespace's prefix, which returns the store at a single revision: every write committed up to
it and none after. An entry that is visible therefore has every older live entry visible with
it, and an entry that is not yet visible has not committed, so its token, when it commits, will
be larger than every token the reader saw. A put naming a dead lease fails as a whole ("lease
not found"): a dead session never creates an entry.

**Watches.** One streaming ``/v3/watch`` per watch, over the namespace's prefix, read by a task
the watch owns; a closed watch's stream stays open for ``LINGER`` seconds, and the next watch
on that namespace takes it over without a round trip. ``watch()`` returns once etcd confirmed
the watch (``created``), so a read made after it is followed by every later change. If the
stream breaks, the task opens it again from the revision after the last one it saw (etcd
replays what was missed; if that history was compacted meanwhile, from now) and wakes the
waiter either way: a spurious wake at worst, never a missed change. A stream cut silently (no
reset) is not noticed, so waiters also re-read after a while, as the coordinator's do.

URL: ``etcd://[user:password@]host[:port][,host[:port]...][?root=/anker/coord]``. Requests go
to one host and move on to the next when it refuses the connection (only then is a request
known not to have been sent: nothing that may have happened is sent again). ``user:password``
(of the first host) log in with etcd's auth; the token is replaced when a host does not take it
(expired, or issued by another member). Without them, ``connect`` fails on a server with auth
on (etcd grants leases to anybody: it would otherwise fail only at the first acquire).
``tls=true`` uses HTTPS verified against the system's CAs, or against ``cafile=PATH``;
``certfile=PATH&keyfile=PATH`` present a client certificate (any of the three implies TLS).
Environment proxies are ignored. Every call waits at most ``timeout`` seconds. Restoring etcd
from a snapshot rewinds its revisions, and so the tokens: restore with a revision bump
(``etcdutl snapshot restore --bump-revision``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, unquote

from anker._drivers import DriverSettings, require, setting
from anker.coordination._backend import (
    SERVER_EXPIRY,
    Backend,
    CoordinationSettings,
    Entry,
    EntryExists,
    SessionExpired,
    Watch,
)
from anker.coordination.backends._etcd_gateway import (
    INVALID_ARGUMENT,
    UNAUTHENTICATED,
    EtcdError,
    Json,
    _answer,
    _b64,
    _range_end,
    _unb64,
)
from anker.coordination.backends._etcd_watch import _EtcdWatch
from anker.errors import InvalidURL

if TYPE_CHECKING:
    import httpx

    from anker._url import BackendURL

__all__ = ["EtcdBackend"]

DEFAULT_ROOT = "/anker/coord"
DEFAULT_PORT = 2379
NEEDED_FOR = "the etcd:// coordination backend"
#: how long a closed watch's stream stays open for the next watch on its namespace, seconds
LINGER = 2.0


def _lease(session: str) -> str:
    return str(int(session, 16))


def _session(lease: str | int) -> str:
    return f"{int(lease):016x}"


def _wrap(value: bytes, created: float) -> bytes:
    return b"%.6f\n" % created + value


def _unwrap(data: bytes) -> tuple[float, bytes]:
    head, newline, value = data.partition(b"\n")
    try:
        if newline:
            return float(head), value
    except ValueError:
        pass
    return 0.0, data  # not written by anker: all value, no time


@dataclass(frozen=True)
class EtcdSettings(CoordinationSettings):
    """The options of ``etcd://``."""

    root: str = setting(DEFAULT_ROOT, help="the key prefix under which every entry lives")
    tls: bool = setting(False, help="talk to etcd over TLS (implied by any of the files)")
    cafile: str | None = setting(None, help="CA certificates that verify the server")
    certfile: str | None = setting(None, help="the client certificate, for mutual TLS")
    keyfile: str | None = setting(None, help="the client certificate's private key")


class EtcdBackend(Backend):
    """Coordination through etcd's v3 JSON gateway; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = EtcdSettings
    settings: EtcdSettings
    capabilities: ClassVar[frozenset[str]] = frozenset({SERVER_EXPIRY})

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        if not url.endpoints:
            raise InvalidURL(str(url), "etcd:// needs a host, e.g. etcd://127.0.0.1:2379")
        if url.path not in ("", "/"):
            raise InvalidURL(str(url), "etcd:// takes no path; give the key prefix as ?root=...")
        given = self.settings
        self.root = (given.root or DEFAULT_ROOT).rstrip("/")
        self._files = {"cafile": given.cafile, "certfile": given.certfile, "keyfile": given.keyfile}
        tls = given.tls
        self._tls = tls or any(self._files.values())
        scheme = "https" if self._tls else "http"
        self._bases = [
            f"{scheme}://{f'[{e.host}]' if ':' in e.host else e.host}:{e.port or DEFAULT_PORT}/v3"
            for e in url.endpoints
        ]
        self._current = 0
        self._token: str | None = None
        self._auth_lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        #: the client's transport, which plain calls use directly (see _send)
        self._transport: httpx.AsyncHTTPTransport | None = None
        self._urls: dict[tuple[int, str], httpx.URL] = {}
        self._headers = {
            "Accept": "*/*",
            "Content-Type": "application/json",
            "User-Agent": "anker",
        }
        self._extensions: dict[str, Any] = {}
        self._watches: set[asyncio.Task[None]] = set()
        #: per (prefix, whether puts are reported), the watches closed less than LINGER
        #: seconds ago (streams still open)
        self._idle: dict[
            tuple[bytes, bool], list[tuple[_EtcdWatch, asyncio.Task[None], asyncio.TimerHandle]]
        ] = {}

    # ------------------------------------------------------------------ plumbing
    async def _send(self, path: str, body: Json, *, stream: bool = False) -> httpx.Response:
        """POST to the current host, moving on to the next ones while they refuse to connect."""
        import httpx

        if self._client is None or self._transport is None:
            raise RuntimeError("the backend is not connected")
        headers = {"Authorization": self._token} if self._token else None
        # a stream may be silent for a long time: only its opening is bounded
        timeout = httpx.Timeout(self.timeout, read=None) if stream else httpx.USE_CLIENT_DEFAULT
        for attempt in range(len(self._bases)):
            try:
                if not stream:
                    # A plain call goes straight to the transport (the client's cookies,
                    # auth flow, redirects and hooks are not used), with its URL and
                    # headers built once.
                    url = self._urls.get((self._current, path))
                    if url is None:
                        url = httpx.URL(self._bases[self._current] + path)
                        self._urls[self._current, path] = url
                    request = httpx.Request(
                        "POST",
                        url,
                        content=json.dumps(body, separators=(",", ":")).encode(),
                        headers=self._headers if headers is None else {**self._headers, **headers},
                        extensions=self._extensions,
                    )
                    response = await self._transport.handle_async_request(request)
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
                    return response
                request = self._client.build_request(
                    "POST",
                    self._bases[self._current] + path,
                    json=body,
                    headers=headers,
                    timeout=timeout,
                )
                return await self._client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                # nothing was sent: the next host may take it
                self._current = (self._current + 1) % len(self._bases)
                if attempt == len(self._bases) - 1:
                    raise
            except BaseException:
                # it may have been sent: never resend, but use another host next time
                self._current = (self._current + 1) % len(self._bases)
                raise
        raise AssertionError("unreachable")

    async def _call(self, path: str, body: Json) -> Json:
        """One request and its answer, within ``timeout``; raises EtcdError for an error."""
        async with asyncio.timeout(self.timeout):
            token = self._token
            try:
                return _answer(await self._send(path, body))
            except EtcdError as exc:
                if exc.code != UNAUTHENTICATED or self.url.password is None:
                    raise
            await self._authenticate(token)  # the token expired, or this host never issued it
            return _answer(await self._send(path, body))

    async def _authenticate(self, stale: str | None = None) -> None:
        """Get a token, unless another task replaced ``stale`` meanwhile."""
        async with self._auth_lock:
            if self._token != stale or self.url.password is None:
                return
            self._token = None
            credentials = {"name": self.url.username or "", "password": self.url.password.reveal()}
            self._token = str(_answer(await self._send("/auth/authenticate", credentials))["token"])

    def _prefix(self, namespace: str) -> bytes:
        return f"{self.root}/{namespace}/".encode()

    def _key(self, namespace: str, key: str) -> bytes:
        return self._prefix(namespace) + quote(key, safe="").encode("ascii")

    async def _range(self, prefix: bytes, **options: object) -> list[Json]:
        body = {"key": _b64(prefix), "range_end": _b64(_range_end(prefix)), **options}
        kvs = (await self._call("/kv/range", body)).get("kvs", [])
        return list(kvs)

    # ------------------------------------------------------------------ the interface
    async def connect(self) -> None:
        httpx = require("httpx", extra="etcd", needed_for=NEEDED_FOR)
        verify: ssl.SSLContext | bool = True
        if self._tls:
            verify = ssl.create_default_context(cafile=self._files["cafile"])
            if self._files["certfile"]:
                verify.load_cert_chain(self._files["certfile"], self._files["keyfile"])
        timeout = httpx.Timeout(self.timeout, connect=self.timeout / len(self._bases))
        self._transport = httpx.AsyncHTTPTransport(
            # every open watch holds a connection of its own
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            verify=verify,
            trust_env=False,
        )
        self._extensions = {"timeout": timeout.as_dict()}
        self._client = httpx.AsyncClient(
            timeout=timeout, transport=self._transport, trust_env=False
        )
        async with asyncio.timeout(self.timeout):
            if self.url.password is not None:
                await self._authenticate()
                return
            # etcd grants leases to anybody, so without this read a server with auth on would
            # fail only at the first acquire (count_only: nothing but the auth check costs)
            probe = {"key": _b64(self.root.encode()), "count_only": True, "serializable": True}
            try:
                await self._call("/kv/range", probe)
            except EtcdError as exc:
                if exc.code == INVALID_ARGUMENT and "user name is empty" in exc.message:
                    raise EtcdError(
                        UNAUTHENTICATED,
                        "authentication required: the server has auth on; give "
                        "user:password in the URL",
                    ) from exc
                raise

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for _, _, timer in idle:
                timer.cancel()
        self._idle.clear()
        for task in list(self._watches):
            task.cancel()
        for task in list(self._watches):
            with contextlib.suppress(BaseException):
                await task
        client, self._client = self._client, None
        self._transport = None
        if client is not None:
            await client.aclose()  # closes the transport too

    async def create_session(self) -> str:
        answer = await self._call("/lease/grant", {"TTL": max(1, math.ceil(self.lease))})
        return _session(answer["ID"])

    async def renew_session(self, session: str) -> None:
        answer = await self._call("/lease/keepalive", {"ID": _lease(session)})
        if int(answer.get("TTL", 0)) <= 0:
            raise SessionExpired(f"session {session} expired")

    async def end_session(self, session: str) -> None:
        try:
            await self._call("/lease/revoke", {"ID": _lease(session)})
        except EtcdError as exc:
            if not exc.lease_gone:
                raise

    async def put(self, session: str, namespace: str, key: str, value: bytes) -> int:
        return (await self._put(session, namespace, key, value, read=False))[0]

    async def put_and_read(
        self, session: str, namespace: str, key: str, value: bytes
    ) -> tuple[int, list[Entry]]:
        # One transaction: the put, then a range read of the namespace at its revision.
        return await self._put(session, namespace, key, value, read=True)

    async def _put(
        self, session: str, namespace: str, key: str, value: bytes, *, read: bool
    ) -> tuple[int, list[Entry]]:
        path = _b64(self._key(namespace, key))
        prefix = self._prefix(namespace)
        success: list[Json] = [
            {
                "request_put": {
                    "key": path,
                    "value": _b64(_wrap(value, time.time())),
                    "lease": _lease(session),
                }
            }
        ]
        if read:
            success.append(
                {"request_range": {"key": _b64(prefix), "range_end": _b64(_range_end(prefix))}}
            )
        txn = {
            "compare": [{"key": path, "target": "CREATE", "result": "EQUAL", "create_revision": 0}],
            "success": success,
        }
        try:
            answer = await self._call("/kv/txn", txn)
        except EtcdError as exc:
            if exc.lease_gone:
                raise SessionExpired(f"session {session} expired") from None
            raise
        if not answer.get("succeeded"):
            raise EntryExists(f"{namespace}/{key} exists")
        found: list[Entry] = []
        if read:
            responses = answer.get("responses", [])
            kvs = responses[1].get("response_range", {}).get("kvs", []) if responses[1:] else []
            found = self._entries_from(prefix, kvs)
        # the revision of the transaction is the one it created the key at
        return int(answer["header"]["revision"]), found

    async def delete(self, namespace: str, key: str) -> None:
        await self._call("/kv/deleterange", {"key": _b64(self._key(namespace, key))})

    async def entries(self, namespace: str) -> list[Entry]:
        prefix = self._prefix(namespace)
        return self._entries_from(prefix, await self._range(prefix))

    @staticmethod
    def _entries_from(prefix: bytes, kvs: list[Json]) -> list[Entry]:
        found = []
        for kv in kvs:
            name = _unb64(kv["key"])[len(prefix) :]
            if b"/" in name:  # an entry of a namespace below this one
                continue
            created, value = _unwrap(_unb64(kv.get("value", "")))
            found.append(
                Entry(
                    key=unquote(name.decode(errors="replace")),
                    value=value,
                    token=int(kv["create_revision"]),
                    session=_session(kv.get("lease", 0)),
                    created=created,
                )
            )
        found.sort(key=lambda entry: entry.token)
        return found

    def watch(self, namespace: str) -> contextlib.AbstractAsyncContextManager[Watch]:
        return self._watch(namespace, additions=True)

    def watch_removals(self, namespace: str) -> contextlib.AbstractAsyncContextManager[Watch]:
        return self._watch(namespace, additions=False)  # etcd's NOPUT filter

    @contextlib.asynccontextmanager
    async def _watch(self, namespace: str, *, additions: bool) -> AsyncIterator[Watch]:
        prefix = self._prefix(namespace)
        kind = (prefix, additions)
        idle = self._idle.get(kind)
        while idle:
            # A stream closed less than LINGER seconds ago is still open: take it over, with
            # no round trip. Forgetting what it saw before is safe, since the caller reads
            # the namespace only after this; a change it reports late is a spurious wake.
            watch, task, timer = idle.pop()
            timer.cancel()
            if not task.done():
                watch.changed.clear()
                watch._removed, watch._ahead = set(), None
                break
        else:
            watch = _EtcdWatch(self, prefix, additions=additions)
            task = asyncio.create_task(watch.run(), name=f"anker-etcd-watch {namespace}")
            self._watches.add(task)
            task.add_done_callback(self._watches.discard)
        try:
            if not watch.created.done():
                async with asyncio.timeout(self.timeout):
                    await watch.created
            yield watch
        except BaseException:
            task.cancel()
            raise
        if task.done() or self._client is None:
            return
        # Keep the stream open a while: a waiter queueing again soon (a lock taken in a loop
        # under contention) reuses it.
        idle = self._idle.setdefault(kind, [])
        entry: tuple[_EtcdWatch, asyncio.Task[None], asyncio.TimerHandle]

        def expire() -> None:
            task.cancel()
            with contextlib.suppress(ValueError):
                idle.remove(entry)
            if not idle and self._idle.get(kind) is idle:
                del self._idle[kind]

        entry = (watch, task, asyncio.get_running_loop().call_later(LINGER, expire))
        idle.append(entry)

    async def namespaces(self, prefix: str) -> list[str]:
        start = len(self.root) + 1
        found = set()
        for kv in await self._range(f"{self.root}/{prefix}".encode(), keys_only=True):
            key = _unb64(kv["key"])[start:].decode(errors="replace")
            namespace, slash, _ = key.rpartition("/")
            if slash:
                found.add(namespace)
        return sorted(found)
