"""``zookeeper://host:2181[,host:2181...]``: coordination on a ZooKeeper ensemble, through kazoo.

**Layout.** Everything lives under one node, ``root`` (default ``/anker/coord``). A namespace
is one child of it, named ``quote(namespace, safe="")`` (``lock/x`` is
``lock%2Fx``); an entry is an *ephemeral* node under that, named by its quoted key, whose data
is the value. The token is the node's ``czxid``, the session its ``ephemeralOwner`` (as
``0x`` and 16 hex digits), ``created`` its ``ctime``. A namespace node is a *container*
(ZooKeeper 3.5.3 or later), which the server deletes once its last child has gone (it looks
every ``znode.container.checkIntervalMs``, 60 s by default), so names used once leave nothing
behind. A put that finds its namespace node missing (never made, or deleted since) makes it
and tries again; a watch never makes one (see below).

**Sessions.** Each session is the ZooKeeper session of a kazoo client of its own, with the
lease as session timeout, so ending one closes just that session and ZooKeeper deletes its
entries at once. ZooKeeper also expires a session whose client went silent, deletes its
entries and fires the child watches of their namespaces (``server-expiry``). kazoo pings a
session for as long as the client runs, so the driver enforces the lease too: a thread closes
every session not renewed within ``lease`` of the start of its last renewal. A renewal is one
round trip on the session's connection, so the server holds the session for at least
``lease`` after the coordinator sent it, as the coordinator assumes, provided the server
grants the lease as session timeout: it must lie within ``minSessionTimeout`` and
``maxSessionTimeout`` (by default 2 and 20 ticks). A longer granted timeout only keeps a dead
holder's entries longer; a shorter one is unsafe. While disconnected, renewal raises
ConnectionError (the session may live on), which counts against the lease. A new session may
take half the lease to connect, no more: the coordinator counts the lease from its request.
A coordinator thus holds two connections (its session's and the reader's, below), each with
kazoo's three threads, and the lease thread; ``aclose`` stops them all. ZooKeeper lets only
a connection that holds a session's password close it, so ``end_session`` ends the sessions
of this process (of any backend object); another process's session ends with its lease.

**Order.** ``czxid`` is the zxid of the transaction that created the node. The leader assigns
zxids in commit order, ensemble-wide, and never reuses one (not after a restart, not when the
namespace node was deleted, unlike a parent's sequence numbers), so tokens strictly increase
in creation order. Every server applies transactions in zxid order, so any read sees a prefix
of the history: if an entry is visible, so is every older entry that is still alive.
``entries`` reads through one connection (the reader's): a ``sync`` (so the reader's server
has every write this process made through its session connections), the children with the
namespace node's stat (one snapshot; ``pzxid`` is the zxid of its last child change), then
every child in one pipelined batch. A child deleted since the listing is left out, and so is
one created after it (``czxid > pzxid``, also when its key was listed): the result is the
snapshot less what was deleted since, never a later entry without an older live one.

**Watches.** A child watch on the namespace node through the reader, or, while there is no
node, a watch for its creation (which then sets the child watch). When it fires it is
registered again on the connection before the waiters wake, so their next read comes after the
new registration; kazoo drops watches when the connection drops, and the driver registers them
again and wakes the waiters once it is back.

URL: ``zookeeper://[user:password@]host[:port][,host[:port]...][?root=/anker/coord]``; user
and password are sent as ``digest`` auth. Every call waits at most ``timeout`` seconds, and so
does ``connect``, whose error says whether the server refused the connection or did not answer.
kazoo logs through the ``anker.coordination`` logger, at DEBUG (its connection retries would be
a warning a try), with credentials masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
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
    EventWatch,
    SessionExpired,
    Watch,
)
from anker.coordination._errors import CoordinationError
from anker.coordination.backends._zookeeper_client import (
    NEEDED_FOR,
    _create_container,
    _new_client,
    _stop_soon,
    _why,
)
from anker.coordination.backends._zookeeper_session import (
    _LIVE,
    _LIVE_LOCK,
    _Changes,
    _Session,
    _session_name,
    _stop,
)
from anker.errors import InvalidOption, InvalidURL

if TYPE_CHECKING:
    from types import ModuleType

    from anker._url import BackendURL

__all__ = ["ZooKeeperBackend"]

log = logging.getLogger("anker.coordination")

DEFAULT_ROOT = "/anker/coord"
#: a put finds its namespace node gone at most this often before it gives up (it is made again
#: after each, and the server deletes an empty container once a ``checkIntervalMs`` at most)
PUT_ATTEMPTS = 4


class _Watched:
    """The child watch this backend keeps on one namespace node, shared by its Watch objects."""

    def __init__(self, backend: ZooKeeperBackend, path: str) -> None:
        self.backend = backend
        self.path = path
        self.watches: set[_ZooKeeperWatch] = set()
        self.wake_when_armed = False

    def fired(self, event: object) -> None:  # on kazoo's callback thread
        self.backend._post(self.backend._fired, self)

    def wake(self) -> None:
        for watch in self.watches:
            watch.changed.set()


class _ZooKeeperWatch(EventWatch):
    """Woken by the zookeeper driver's reader."""


@dataclass(frozen=True)
class ZooKeeperSettings(CoordinationSettings):
    """The options of ``zookeeper://``."""

    root: str = setting(DEFAULT_ROOT, help="the node under which every entry lives")


class ZooKeeperBackend(Backend):
    """Coordination through ZooKeeper; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = ZooKeeperSettings
    settings: ZooKeeperSettings
    capabilities: ClassVar[frozenset[str]] = frozenset({SERVER_EXPIRY})

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        if not url.endpoints:
            raise InvalidURL(
                str(url), f"{url.scheme}:// needs a host, e.g. {url.scheme}://127.0.0.1:2181"
            )
        if url.path not in ("", "/"):
            raise InvalidURL(str(url), f"{url.scheme}:// takes no path; name the node with ?root=")
        root = self.settings.root
        self.root = "/" + root.strip("/")
        if self.root == "/" or "//" in self.root:
            raise InvalidOption(
                "root", self.describe(url), f"a node path such as {DEFAULT_ROOT} expected"
            )
        self.hosts = ",".join(
            f"{f'[{e.host}]' if ':' in e.host else e.host}:{e.port or 2181}" for e in url.endpoints
        )
        self._kazoo: ModuleType | None = None
        self._errors: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: Any = None
        self._reader_changes = _Changes()
        self._watched: dict[str, _Watched] = {}
        self._sessions: dict[str, _Session] = {}
        self._leases = threading.Condition()
        self._watchdog: threading.Thread | None = None
        self._closing = False

    # ------------------------------------------------------------------ plumbing
    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback`` on the backend's event loop (from any thread)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                loop.call_soon_threadsafe(callback, *args)

    def _future(self, pending: Any) -> asyncio.Future[Any]:
        """An asyncio future for a kazoo async result."""
        future = asyncio.get_running_loop().create_future()

        def settle(done: Any) -> None:
            if not future.done():
                error = done.exception
                if error is None:
                    future.set_result(done.value)
                else:
                    future.set_exception(error)

        pending.rawlink(lambda done: self._post(settle, done))
        return future

    async def _result(self, pending: Any) -> Any:
        async with asyncio.timeout(self.timeout):
            return await self._future(pending)

    async def _outcomes(self, pendings: list[Any]) -> list[Any]:
        """Wait for several pipelined requests; each gives its value or its exception."""
        futures = [self._future(pending) for pending in pendings]
        async with asyncio.timeout(self.timeout):
            return await asyncio.gather(*futures, return_exceptions=True)

    async def _connected(
        self, client: Any, changes: _Changes, session: _Session | None, within: float = 0.0
    ) -> None:
        within = within or self.timeout
        try:
            async with asyncio.timeout(within):
                while not client.connected:
                    if session is not None and session.ending:
                        raise SessionExpired(f"ZooKeeper session {session.id} ended")
                    if self._closing:
                        raise RuntimeError("the backend is closed")
                    await changes.wait()
        except TimeoutError:
            raise ConnectionError(
                f"no connection to ZooKeeper at {self.hosts} within {within:g} s: "
                f"{_why(client, self.url)}"
            ) from None

    async def _ready(self) -> Any:
        """The reader client, once connected."""
        reader = self._reader
        if reader is None or self._closing:
            raise RuntimeError("the backend is closed")
        if not reader.connected:
            await self._connected(reader, self._reader_changes, None)
        return reader

    def _path(self, namespace: str, key: str | None = None) -> str:
        path = f"{self.root}/{quote(namespace, safe='')}"
        return path if key is None else f"{path}/{quote(key, safe='')}"

    def _session(self, session: str) -> _Session:
        with self._leases:
            found = self._sessions.get(session)
        if found is None or found.ending:
            raise SessionExpired(f"ZooKeeper session {session} ended")
        return found

    def _expire(self, session: _Session) -> None:
        """Have the watchdog close a session (from any thread)."""
        with self._leases:
            session.ending = True
            self._leases.notify()

    def _check_gone(self, session: _Session, error: Exception) -> None:
        """Raise SessionExpired if a kazoo error means the session is over."""
        if session.ending or isinstance(error, self._errors.SessionExpiredError):
            self._expire(session)
            raise SessionExpired(f"ZooKeeper session {session.id} expired") from None

    def _watch_leases(self) -> None:
        """The watchdog thread: closes sessions that ended or were not renewed in time."""
        while True:
            with self._leases:
                if self._closing:
                    return
                now = time.monotonic()
                due = [s for s in self._sessions.values() if s.ending or s.deadline <= now]
                for session in due:
                    session.ending = True
                    del self._sessions[session.id]
                if not due:
                    deadline = min((s.deadline for s in self._sessions.values()), default=None)
                    self._leases.wait(None if deadline is None else deadline - now)
                    continue
            for session in due:
                session.close()

    # ------------------------------------------------------------------ watches
    def _arm(self, watched: _Watched) -> None:
        """Register the child watch again, without waiting (on the loop)."""
        reader = self._reader
        if reader is None or self._closing or self._watched.get(watched.path) is not watched:
            return
        pending = reader.get_children_async(watched.path, watch=watched.fired)
        pending.rawlink(lambda done: self._post(self._armed, watched, done))

    def _armed(self, watched: _Watched, done: Any, exists: bool = False) -> None:
        """A child watch (or, with ``exists``, a watch for the node's creation) was set, or
        failed to be."""
        reader = self._reader
        if reader is None or self._closing or self._watched.get(watched.path) is not watched:
            return
        error = done.exception
        if error is None and exists and done.value is not None:
            self._arm(watched)  # made meanwhile: watch its children after all
            return
        if error is None:
            if watched.wake_when_armed:
                watched.wake_when_armed = False
                watched.wake()
            return
        # Changes may go unnoticed until the watch is back: wake the waiters once it is.
        watched.wake_when_armed = True
        if isinstance(error, self._errors.NoNodeError):  # the empty container was deleted
            pending = reader.exists_async(watched.path, watch=watched.fired)
            pending.rawlink(lambda done: self._post(self._armed, watched, done, True))
        elif reader.connected:
            assert self._loop is not None
            self._loop.call_later(0.1, self._arm, watched)
        # else: _reader_changed registers it again on reconnection

    def _fired(self, watched: _Watched) -> None:
        if self._watched.get(watched.path) is watched:
            self._arm(watched)  # queued on the connection before any read a waiter makes
            watched.wake()

    def _reader_changed(self, state: str) -> None:
        assert self._kazoo is not None
        self._reader_changes.pulse()
        if state == self._kazoo.KazooState.CONNECTED:
            for watched in list(self._watched.values()):
                watched.wake_when_armed = True
                self._arm(watched)

    # ------------------------------------------------------------------ the interface
    @property
    def connect_timeout(self) -> float | None:
        return None  # connect bounds itself, to say why it failed (refused, or no answer)

    async def connect(self) -> None:
        self._kazoo = require("kazoo.client", extra="zookeeper", needed_for=NEEDED_FOR)
        self._errors = require("kazoo.exceptions", extra="zookeeper", needed_for=NEEDED_FOR)
        self._loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.timeout
        try:
            reader = self._reader = _new_client(self.url, self.hosts, self.lease)
            reader.add_listener(lambda state: self._post(self._reader_changed, state))
            reader.start_async()
            await self._connected(reader, self._reader_changes, None)
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await self._future(reader.ensure_path_async(self.root))
            except TimeoutError:
                raise ConnectionError(
                    f"no answer from ZooKeeper at {self.hosts} within {self.timeout:g} s"
                ) from None
            self._watchdog = threading.Thread(
                target=self._watch_leases, name="anker-zookeeper-leases", daemon=True
            )
            self._watchdog.start()
        except BaseException:
            self._closing = True
            reader, self._reader = self._reader, None
            if reader is not None:
                _stop_soon(reader)
            raise

    async def aclose(self) -> None:
        with self._leases:
            self._closing = True
            sessions = list(self._sessions.values())
            self._sessions.clear()
            self._leases.notify()
        watchdog, self._watchdog = self._watchdog, None
        reader, self._reader = self._reader, None
        self._watched.clear()

        def shut_down() -> None:
            for session in sessions:
                session.close()
            if watchdog is not None:
                watchdog.join()
            if reader is not None:
                _stop(reader)

        await asyncio.to_thread(shut_down)

    async def create_session(self) -> str:
        if self._kazoo is None or self._closing:
            raise RuntimeError("the backend is not connected")
        lost_state = self._kazoo.KazooState.LOST
        client = _new_client(self.url, self.hosts, self.lease)
        changes = _Changes()
        created: list[_Session] = []

        def on_state(state: str) -> None:  # on kazoo's connection thread
            if state == lost_state and created:
                self._expire(created[0])  # expired: do not let kazoo open a new session
            self._post(changes.pulse)

        client.add_listener(on_state)
        try:
            client.start_async()
            # The coordinator counts the lease from its request: a session that took most of
            # it to connect would arrive dead. Give up sooner, and let the coordinator retry.
            await self._connected(client, changes, None, min(self.timeout, self.lease / 2))
            client_id = client.client_id
            if client_id is None:
                raise ConnectionError(f"the connection to ZooKeeper at {self.hosts} dropped")
            granted = getattr(client, "anker_granted", None)
            if granted is None:  # kazoo's handshake changed: never skip the check silently
                raise CoordinationError(f"no session timeout noted from ZooKeeper at {self.hosts}")
            if granted < self.lease - 0.001:
                raise CoordinationError(
                    f"ZooKeeper at {self.hosts} granted a {granted:g} s session for a "
                    f"{self.lease:g} s lease; a holder could outlive its entries. Lower the "
                    "lease, or raise the server's maxSessionTimeout"
                )
        except BaseException:
            _stop_soon(client)
            raise
        # Counted from now, not from the request: the coordinator's lease, counted from the
        # request, always runs out first, so the driver never closes a session it still trusts.
        session = _Session(client, client_id[0], changes, time.monotonic() + self.lease)
        created.append(session)
        with _LIVE_LOCK:
            _LIVE[session.id] = session
        with self._leases:
            self._sessions[session.id] = session
            self._leases.notify()
        return session.id

    async def renew_session(self, session: str) -> None:
        found = self._session(session)
        started = time.monotonic()
        client_id = found.client.client_id
        if client_id is None:
            raise ConnectionError(
                f"disconnected from ZooKeeper at {self.hosts}; session {session} may live on"
            )
        if client_id[0] != found.sid:
            self._expire(found)
            raise SessionExpired(f"ZooKeeper session {session} expired")
        try:
            await self._result(found.client.exists_async(self.root))
        except self._errors.KazooException as exc:
            self._check_gone(found, exc)
            raise
        with self._leases:  # atomic with the watchdog's check of the deadline
            if not found.current():
                raise SessionExpired(f"ZooKeeper session {session} expired")
            found.deadline = max(found.deadline, started + self.lease)

    async def end_session(self, session: str) -> None:
        with self._leases:
            found = self._sessions.pop(session, None)
        if found is None:
            with _LIVE_LOCK:
                found = _LIVE.get(session)
        if found is not None:
            await asyncio.to_thread(found.close)

    async def put(self, session: str, namespace: str, key: str, value: bytes) -> int:
        try:
            found = self._session(session)
            if not found.client.connected:
                await self._connected(found.client, found.changes, found)
            with self._leases:
                if not found.current() or found.deadline <= time.monotonic():
                    raise SessionExpired(f"ZooKeeper session {session} expired")
        except SessionExpired:
            # Known here without a round trip: yield, so a caller that retries at once does
            # not keep the event loop (and the session keeper on it) from running.
            await asyncio.sleep(0)
            raise
        path = self._path(namespace, key)
        errors = self._errors
        try:
            for attempt in range(PUT_ATTEMPTS):
                pending = found.client.create_async(path, value, ephemeral=True, include_data=True)
                try:
                    _, stat = await self._result(pending)
                    break
                except errors.NoNodeError:
                    if attempt == PUT_ATTEMPTS - 1:
                        raise
                # No namespace node: none yet, or the server has just deleted the empty
                # container. Make it and try again (the entry's token is its own czxid,
                # whatever became of the node before).
                await self._make_namespace(found.client, self._path(namespace))
        except errors.NodeExistsError:
            raise EntryExists(f"{namespace}/{key} exists") from None
        except errors.KazooException as exc:
            self._check_gone(found, exc)
            raise
        if stat.ephemeralOwner != found.sid:
            # kazoo had already replaced the expired session: the node is not ours to keep
            self._expire(found)
            with contextlib.suppress(errors.NoNodeError):
                await self._result(found.client.delete_async(path, version=stat.version))
            raise SessionExpired(f"ZooKeeper session {session} expired")
        return int(stat.czxid)

    async def _make_namespace(self, client: Any, path: str) -> None:
        """Create a namespace's node as a container, which the server deletes once empty."""
        errors = self._errors
        try:
            await self._result(_create_container(client, path))
        except errors.NodeExistsError:
            pass
        except errors.NoNodeError:  # the root went too: make it, the next attempt the rest
            await self._result(client.ensure_path_async(self.root))

    async def delete(self, namespace: str, key: str) -> None:
        reader = await self._ready()
        with contextlib.suppress(self._errors.NoNodeError):
            await self._result(reader.delete_async(self._path(namespace, key)))

    async def entries(self, namespace: str) -> list[Entry]:
        reader = await self._ready()
        path = self._path(namespace)
        synced, listed = await self._outcomes(
            [reader.sync_async(path), reader.get_children_async(path, include_data=True)]
        )
        for outcome in (synced, listed):
            if isinstance(outcome, self._errors.NoNodeError):
                return []
            if isinstance(outcome, BaseException):
                raise outcome
        children, parent = listed
        fetched = await self._outcomes([reader.get_async(f"{path}/{c}") for c in children])
        found = []
        for child, outcome in zip(children, fetched, strict=True):
            if isinstance(outcome, self._errors.NoNodeError):
                continue  # deleted since the listing
            if isinstance(outcome, BaseException):
                raise outcome
            value, stat = outcome
            if stat.ephemeralOwner == 0 or stat.czxid > parent.pzxid:
                continue  # not an entry, or created after the listing
            found.append(
                Entry(
                    key=unquote(child),
                    value=value or b"",
                    token=int(stat.czxid),
                    session=_session_name(stat.ephemeralOwner),
                    created=stat.ctime / 1000,
                )
            )
        found.sort(key=lambda entry: entry.token)
        return found

    @contextlib.asynccontextmanager
    async def watch(self, namespace: str) -> AsyncIterator[Watch]:
        reader = await self._ready()
        path = self._path(namespace)
        watched = self._watched.get(path)
        if watched is None:
            watched = self._watched[path] = _Watched(self, path)
        watch = _ZooKeeperWatch()
        watched.watches.add(watch)
        try:
            for _ in range(3):
                try:
                    await self._result(reader.get_children_async(path, watch=watched.fired))
                    break
                except self._errors.NoNodeError:
                    pass
                # No node (nothing put yet, or the server deleted the empty container): watch
                # for its creation instead. Making it would leave it behind, never used.
                if await self._result(reader.exists_async(path, watch=watched.fired)) is None:
                    break
            else:
                raise ConnectionError(f"the node {path} keeps coming and going; no watch set")
            yield watch
        finally:
            watched.watches.discard(watch)
            if not watched.watches and self._watched.get(path) is watched:
                del self._watched[path]

    async def namespaces(self, prefix: str) -> list[str]:
        reader = await self._ready()
        synced, listed = await self._outcomes(
            [reader.sync_async(self.root), reader.get_children_async(self.root)]
        )
        for outcome in (synced, listed):
            if isinstance(outcome, BaseException):
                raise outcome
        names = sorted(name for name in map(unquote, listed) if name.startswith(prefix))
        stats = await self._outcomes([reader.exists_async(self._path(name)) for name in names])
        for stat in stats:
            if isinstance(stat, BaseException):
                raise stat
        return [name for name, stat in zip(names, stats, strict=True) if stat and stat.numChildren]
