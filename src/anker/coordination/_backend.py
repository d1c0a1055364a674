"""The interface a coordination backend implements; the coordinator does the rest.

Every primitive (locks, semaphores, read/write locks, groups, elections) is built by the
coordinator from one small model that every backend provides:

* a **session** with a lease: created by :meth:`Backend.create_session`, kept alive by
  :meth:`Backend.renew_session`, ended by :meth:`Backend.end_session`. A session whose lease runs
  out is dead, and so is everything it owns.
* **entries** in **namespaces**: an entry is a key (unique in its namespace), an opaque value, the
  session that owns it, and a **token** the backend assigns when it is created. Tokens strictly
  increase within a namespace, forever: across sessions, clients and restarts of the client. A
  lock is the namespace ``lock/<name>``; its holder is the entry with the smallest token, and that
  token is the holder's fencing token.
* **watches**: a waiter opens a watch on a namespace *before* reading it, so a change between the
  read and the wait is never missed.

Backends whose server deletes a dead session's entries and tells watchers by itself (etcd,
ZooKeeper) declare :data:`SERVER_EXPIRY`. The others report, with each entry, how long its
session's lease has left (``Entry.expires_in``), and the coordinator wakes up when that runs out.

Drivers are found by URL scheme in the ``anker.coordination.backends`` entry point group. They
raise :class:`SessionExpired` and :class:`EntryExists` where this module says so; any other
exception is turned into :class:`~anker.coordination.BackendUnavailable` by the coordinator, which
also puts a timeout around every call (unless the driver declares :attr:`Backend.bounds_calls`).

.. versionadded:: 0.1
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from anker._drivers import Driver, DriverSettings, Seconds, setting
from anker.coordination._errors import BackendUnavailable, CoordinationError

if TYPE_CHECKING:
    from anker._url import BackendURL

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_TIMEOUT",
    "SERVER_EXPIRY",
    "Backend",
    "CoordinationSettings",
    "Entry",
    "EntryExists",
    "EventWatch",
    "SessionExpired",
    "Watch",
]

#: The server removes a dead session's entries itself and tells watchers (etcd, ZooKeeper).
SERVER_EXPIRY = "server-expiry"
DEFAULT_LEASE = 2.0
DEFAULT_TIMEOUT = 5.0
#: shorter leases renew so often that a busy event loop alone could lose them
MIN_LEASE = 0.5
MIN_TIMEOUT = 0.1
#: the namespace :meth:`Backend.probe` reads; nothing is ever written there
PROBE_NAMESPACE = "anker-probe"


@dataclass(frozen=True)
class CoordinationSettings(DriverSettings):
    """The options of every coordination backend, from the URL's query or
    ``Coordinator.connect``'s keywords; each backend adds its own."""

    #: seconds a session lives without renewal; everything it holds rides on it
    lease: Seconds = setting(
        Seconds(DEFAULT_LEASE), min=MIN_LEASE, help="seconds a session lives without renewal"
    )
    #: seconds one call to the backend may take
    timeout: Seconds = setting(
        Seconds(DEFAULT_TIMEOUT), min=MIN_TIMEOUT, help="seconds one call to the backend may take"
    )
    #: keeps this coordinator's names apart from others' on a shared backend
    prefix: str = setting("", help="a prefix that keeps these names apart on a shared backend")


class SessionExpired(CoordinationError):
    """The session's lease ran out (or the server forgot it): everything it owned is gone."""


class EntryExists(CoordinationError):
    """A live entry with this key is already in the namespace."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One live entry of a namespace, as the backend reports it."""

    key: str
    value: bytes
    #: strictly increasing within the namespace, in creation order; the fencing token of locks
    token: int
    session: str
    #: when the backend created it, in seconds since the epoch (the server's clock if it has one)
    created: float
    #: seconds until the owning session's lease runs out, as the server sees it; None on
    #: backends with SERVER_EXPIRY, whose watchers hear of the expiry from the server
    expires_in: float | None = None


class Watch(abc.ABC):
    """Changes to one namespace since the watch was opened."""

    #: After :meth:`wait` returned True: the keys of the entries removed since the wait
    #: before, if the driver can say exactly what changed and everything else was a new entry;
    #: None if it cannot (then the namespace must be read again). New entries are never
    #: listed: their tokens are larger than every token a reader saw before, so they queue
    #: behind every waiter.
    removed: frozenset[str] | None = None
    #: On a watch from :meth:`Backend.watch_ahead`, after :meth:`wait` returned True: the keys
    #: of the entries still ahead of the watched one, as the server last reported them (an
    #: empty set: nothing is ahead); None if no such news came (then ``removed`` says what is
    #: known).
    ahead: frozenset[str] | None = None

    @abc.abstractmethod
    async def wait(self, timeout: float) -> bool:
        """Wait until the namespace changed, at most ``timeout`` seconds.

        Returns True as soon as an entry was created or deleted since the watch was opened (or
        since ``wait`` last returned True), and False on timeout. A spurious True is allowed; a
        missed change is not (of the changes the watch is for: see
        :meth:`Backend.watch_removals` and :meth:`Backend.watch_ahead`).
        """


class _ChangeEvent(asyncio.Event):
    """``EventWatch.changed``: a bare ``set()`` is a change the driver does not describe."""

    def __init__(self, watch: EventWatch) -> None:
        super().__init__()
        self._watch = watch

    def set(self) -> None:
        self._watch._removed = None
        self._watch._ahead = None
        super().set()


class EventWatch(Watch):
    """A watch that its driver wakes from its reader task: with :meth:`added` or
    :meth:`removed_entry` when it knows what changed, by setting ``changed`` otherwise."""

    def __init__(self) -> None:
        self.changed: asyncio.Event = _ChangeEvent(self)
        #: what changed since the last wait, as far as described (None: not described)
        self._removed: set[str] | None = set()
        #: the latest news of the entries ahead of the watched one (see Watch.ahead)
        self._ahead: frozenset[str] | None = None

    def added(self) -> None:
        """An entry was created (and nothing else happened)."""
        asyncio.Event.set(self.changed)

    def removed_entry(self, key: str) -> None:
        """The entry ``key`` was deleted (or its session ended)."""
        if self._removed is not None:
            self._removed.add(key)
        asyncio.Event.set(self.changed)

    def ahead_now(self, keys: frozenset[str]) -> None:
        """News from the server: ``keys`` are the entries ahead of the watched one now."""
        if self._removed is not None:
            # entries ahead never come back, so two pieces of news add up by intersection
            self._ahead = keys if self._ahead is None else self._ahead & keys
        asyncio.Event.set(self.changed)

    async def wait(self, timeout: float) -> bool:
        if not self.changed.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self.changed.wait()
            except TimeoutError:
                return False
        self.changed.clear()
        removed, self._removed = self._removed, set()
        ahead, self._ahead = self._ahead, None
        self.removed = None if removed is None else frozenset(removed)
        self.ahead = None if removed is None else ahead
        return True


class Backend(Driver):
    """Sessions, entries and watches on one coordination service.

    A backend is a :class:`~anker.drivers.Driver`: its options are a subclass of
    :class:`CoordinationSettings` (``settings_class``), whose ``lease`` (the session lease in
    seconds) and ``timeout`` (the time one call may take) it finds as ``self.lease`` and
    ``self.timeout``. The constructor does no I/O: :meth:`~anker.drivers.Driver.connect` does
    (creating tables or root nodes), and :meth:`~anker.drivers.Driver.aclose` closes
    connections (sessions are ended by the coordinator before it is called).
    """

    settings_class: ClassVar[type[DriverSettings]] = CoordinationSettings
    kind: ClassVar[str] = "coordination backend"
    unavailable = BackendUnavailable
    #: e.g. {SERVER_EXPIRY}
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: True if every call of the driver gives up by itself (raising TimeoutError) after
    #: ``timeout`` seconds; the coordinator then adds no timeout of its own (one timer less
    #: per call). Watches are bounded by the coordinator either way.
    bounds_calls: ClassVar[bool] = False

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        if not isinstance(settings, CoordinationSettings):
            raise TypeError(f"{type(self).__qualname__} needs CoordinationSettings")
        super().__init__(url, settings)
        self.lease: float = settings.lease
        self.timeout: float = settings.timeout

    @property
    def connect_timeout(self) -> float | None:
        return None if self.bounds_calls else self.timeout

    async def probe(self) -> None:
        """One read of a namespace nothing writes: a round trip through the backend's own
        read path. Drivers with a cheaper call (PING, ``SELECT 1``) override it."""
        await self.entries(PROBE_NAMESPACE)

    @abc.abstractmethod
    async def create_session(self) -> str:
        """Start a session with a lease of ``self.lease`` seconds; return its id."""

    @abc.abstractmethod
    async def renew_session(self, session: str) -> None:
        """Extend the session's lease to ``self.lease`` seconds from now.

        Raises :class:`SessionExpired` when the session is already gone.
        """

    @abc.abstractmethod
    async def end_session(self, session: str) -> None:
        """End a session and delete its entries at once. Ending a dead session is not an error.

        Only sessions this process created are guaranteed to end at once (ZooKeeper lets
        only the holder of a session's password close it); another process's session may
        be left to its lease.
        """

    @abc.abstractmethod
    async def put(self, session: str, namespace: str, key: str, value: bytes) -> int:
        """Create an entry owned by ``session``; return its token.

        Raises :class:`EntryExists` when a live entry has ``key`` in ``namespace``, and
        :class:`SessionExpired` when the session is gone (then nothing is created).
        """

    async def put_and_read(
        self, session: str, namespace: str, key: str, value: bytes
    ) -> tuple[int, list[Entry]]:
        """:meth:`put`, then :meth:`entries` of the namespace, as one call.

        This is what acquiring a lock does first. A backend that can do both in one round
        trip (one script, one transaction) overrides it; the entries must be read after the
        put, with the same guarantees as :meth:`entries`.
        """
        token = await self.put(session, namespace, key, value)
        return token, await self.entries(namespace)

    @abc.abstractmethod
    async def delete(self, namespace: str, key: str) -> None:
        """Delete an entry; deleting one that is not there is not an error."""

    @abc.abstractmethod
    async def entries(self, namespace: str) -> list[Entry]:
        """The live entries of a namespace, ordered by token."""

    @abc.abstractmethod
    def watch(self, namespace: str) -> contextlib.AbstractAsyncContextManager[Watch]:
        """Watch a namespace for changes; open it before reading the namespace."""

    def watch_removals(self, namespace: str) -> contextlib.AbstractAsyncContextManager[Watch]:
        """Watch a namespace for removals; open it before reading the namespace.

        This is what a waiter needs: a new entry queues behind it. A driver that can leave
        new entries out overrides it, which spares every waiter a wake-up per newcomer; it
        must still report every removal. This default watches every change.
        """
        return self.watch(namespace)

    def watch_ahead(
        self, namespace: str, session: str, key: str
    ) -> contextlib.AbstractAsyncContextManager[Watch]:
        """Watch for the moment nothing is ahead of ``key`` (an entry of ``session``, put or
        about to be) any more; open it before reading the namespace.

        This is what an exclusive waiter needs: it holds once nothing is ahead of it. The
        watch must wake by then (saying so with :attr:`Watch.ahead`, or listing what left in
        :attr:`Watch.removed`, or asking for a read), and may wake more often. A driver that
        tells only that waiter (ZooKeeper's "watch the predecessor" recipe) spares every
        other waiter a wake-up per hand-over. This default watches every removal in the
        namespace.
        """
        return self.watch_removals(namespace)

    @abc.abstractmethod
    async def namespaces(self, prefix: str) -> list[str]:
        """The namespaces starting with ``prefix`` that hold at least one live entry, sorted."""
