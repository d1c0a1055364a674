"""The coordinator: one session on one backend, and the primitives built on it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Self, TypeVar

from anker._drivers import Backoff, describe_error
from anker.coordination._backend import (
    Backend,
    CoordinationSettings,
    EntryExists,
    SessionExpired,
    Watch,
)
from anker.coordination._errors import BackendUnavailable, CoordinationError, InvalidName
from anker.coordination._lock import Lock, LockInfo, LostCallback, ReadWriteLock, Semaphore, infos
from anker.coordination._names import check_name
from anker.coordination._session import SessionKeeper

if TYPE_CHECKING:
    from anker._url import BackendURL
    from anker.coordination._blocking import BlockingCoordinator
    from anker.coordination._election import Election
    from anker.coordination._group import Group, Member
    from anker.coordination._lock import _QueuedLock
    from anker.coordination._partition import Partitioner

__all__ = ["Coordinator"]

log = logging.getLogger("anker.coordination")

T = TypeVar("T")
BACKEND_GROUP = "anker.coordination.backends"
#: namespace kinds, as they appear in backend namespaces ("lock/volume-42")
KINDS = ("lock", "semaphore", "rwlock", "group", "election")


def default_member_id() -> str:
    """``host-pid``, unique among the live processes of a deployment."""
    host = (
        "".join(
            c if c.isascii() and (c.isalnum() or c in "_.-") else "_" for c in socket.gethostname()
        )
        or "host"
    )
    return f"{host}-{os.getpid()}"


class Coordinator:
    """Locks, semaphores, groups and elections through one backend, on one leased session::

        async with await Coordinator.connect("redis://127.0.0.1:6379") as coordinator:
            async with coordinator.lock("volume-42") as lock:
                ...

    Everything the coordinator holds rides on its session, renewed every ``lease / 3``
    seconds; if renewal fails for a whole ``lease``, every holding is reported lost at once.
    ``timeout`` bounds every call to the backend. Closing the coordinator releases what it
    holds and ends its session.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        backend: Backend,
        *,
        member_id: str | None = None,
        prefix: str = "",
    ) -> None:
        self._backend = backend
        self.url: BackendURL = backend.url
        self.lease = backend.lease
        self.timeout = backend.timeout
        #: the driver times its calls out itself (see Backend.bounds_calls)
        self._bounded = backend.bounds_calls
        self.member_id = check_name("member", member_id or default_member_id())
        if prefix:
            check_name("prefix", prefix)
        self._prefix = f"{prefix}/" if prefix else ""
        self._keeper = SessionKeeper(backend, self._call, self._spawn, self.lease)
        self._holds: set[_QueuedLock] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keeper.on_lost.append(self._session_lost)
        #: the groups this coordinator's member is in, with its capabilities: joined again
        #: on every new session
        self._memberships: dict[str, bytes] = {}
        self._keeper.on_new.append(self._rejoin)
        self._closed = False
        #: the loop the coordinator runs on (set by connect); other threads hand work to it
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    async def connect(
        cls,
        url: str | BackendURL,
        *,
        member_id: str | None = None,
        lease: float | dt.timedelta | None = None,
        timeout: float | dt.timedelta | None = None,
        require: Iterable[str] = (),
        **options: object,
    ) -> Self:
        """Connect to the backend a URL names and start a session.

        ``lease`` (default 2 s) and ``timeout`` (default 5 s), like every option in
        ``options`` (``prefix``, which keeps this coordinator's names apart from others' on a
        shared backend, and the backend's own), may be given in the URL's query instead
        (``?lease=10s``), but not in both places with different values. An unknown option or a
        bad value is an :class:`~anker.errors.InvalidOption`; a capability in ``require``
        that the backend lacks (such as ``SERVER_EXPIRY``), a
        :class:`~anker.errors.CapabilityMissing`.
        """
        from anker._drivers import open_driver

        given = {"lease": lease, "timeout": timeout}
        options |= {name: value for name, value in given.items() if value is not None}
        backend = await open_driver(BACKEND_GROUP, url, Backend, options, require=require)
        settings = backend.settings
        assert isinstance(settings, CoordinationSettings)
        try:
            coordinator = cls(backend, member_id=member_id, prefix=settings.prefix)
            coordinator._loop = asyncio.get_running_loop()
            await coordinator._keeper.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(backend.aclose())
            raise
        return coordinator

    async def aclose(self) -> None:
        """Release everything, end the session (and its lease) and close the backend."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self._holds.clear()
        try:
            await self._keeper.close()
        except CoordinationError as exc:
            # Nothing is lost: the lease frees what the session held, a little later.
            log.warning(
                "closing the coordination session failed (%s); what it held is freed when "
                "its %g s lease runs out",
                exc,
                self.lease,
            )
        finally:
            await self._backend.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def blocking(self) -> BlockingCoordinator:
        """The same coordinator for threaded code: every method blocks until done."""
        from anker.coordination._blocking import BlockingCoordinator

        return BlockingCoordinator(self)

    @property
    def driver(self) -> Backend:
        """The backend driver this coordinator works through (health checks probe it)."""
        return self._backend

    @property
    def capabilities(self) -> frozenset[str]:
        """What the backend declares it can do (e.g. ``server-expiry``)."""
        return self._backend.capabilities

    # ------------------------------------------------------------------ primitives
    def lock(
        self, name: str, *, timeout: float | None = None, on_lost: LostCallback | None = None
    ) -> Lock:
        """An exclusive lock; ``timeout`` applies to ``async with`` (None or -1: wait for ever)."""
        return Lock(self, check_name("lock", name), timeout=timeout, on_lost=on_lost)

    def semaphore(
        self,
        name: str,
        limit: int,
        *,
        timeout: float | None = None,
        on_lost: LostCallback | None = None,
    ) -> Semaphore:
        """A semaphore with ``limit`` slots (every user of one name must give the same limit)."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"semaphore {name!r}: limit must be a positive int, got {limit!r}")
        return Semaphore(
            self, check_name("semaphore", name), limit=limit, timeout=timeout, on_lost=on_lost
        )

    def rwlock(
        self, name: str, *, timeout: float | None = None, on_lost: LostCallback | None = None
    ) -> ReadWriteLock:
        """A read/write lock: ``.read`` is shared, ``.write`` exclusive."""
        return ReadWriteLock(self, check_name("rwlock", name), timeout=timeout, on_lost=on_lost)

    def group(self, name: str) -> Group:
        """A group to join, leave, list and watch."""
        from anker.coordination._group import Group

        return Group(self, check_name("group", name))

    def election(self, name: str) -> Election:
        """A leader election to campaign in or to look up the leader of."""
        from anker.coordination._election import Election

        return Election(self, check_name("election", name))

    def partitioner(self, group: str, *, weight: float = 1.0) -> Partitioner:
        """Spread keys over the members of ``group`` by weighted rendezvous hashing."""
        from anker.coordination._partition import Partitioner

        return Partitioner(self.group(group), weight=weight)

    # ------------------------------------------------------------------ introspection
    async def locks(self) -> list[LockInfo]:
        """Every lock, semaphore and read/write lock with live entries, holders first."""
        found: list[LockInfo] = []
        for kind in ("lock", "semaphore", "rwlock"):
            for namespace in await self._call(
                "list locks", self._backend.namespaces(self._namespace(kind, ""))
            ):
                name = namespace.rpartition("/")[2]
                entries = await self._call("read lock", self._backend.entries(namespace))
                found.extend(infos(kind, name, entries))
        return found

    async def groups(self) -> dict[str, list[Member]]:
        """Every group with live members."""
        found = {}
        for namespace in await self._call(
            "list groups", self._backend.namespaces(self._namespace("group", ""))
        ):
            name = namespace.rpartition("/")[2]
            found[name] = await self.group(name).members()
        return found

    async def leaders(self) -> dict[str, str]:
        """The current leader of every election with candidates."""
        found = {}
        for namespace in await self._call(
            "list elections", self._backend.namespaces(self._namespace("election", ""))
        ):
            name = namespace.rpartition("/")[2]
            leader = await self.election(name).leader()
            if leader is not None:
                found[name] = leader
        return found

    # ------------------------------------------------------------------ for the primitives
    def _namespace(self, kind: str, name: str) -> str:
        return f"{self._prefix}{kind}/{name}"

    async def _call(self, operation: str, awaitable: Awaitable[T]) -> T:
        """Run one backend call with the timeout, turning client errors into ours."""
        if self._closed and operation not in ("end session", "delete"):
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise CoordinationError("the coordinator is closed")
        try:
            if self._bounded:
                return await awaitable
            async with asyncio.timeout(self.timeout):
                return await awaitable
        except (SessionExpired, EntryExists, InvalidName):
            raise
        except TimeoutError as exc:
            raise BackendUnavailable(
                str(self.url), operation, f"no answer within {self.timeout:g} s"
            ) from exc
        except CoordinationError:
            raise
        except Exception as exc:
            raise BackendUnavailable(str(self.url), operation, self._describe(exc)) from exc

    def _describe(self, exc: Exception) -> str:
        return describe_error(exc, self.url)

    @contextlib.asynccontextmanager
    async def _watch(
        self,
        namespace: str,
        *,
        removals_only: bool = False,
        ahead_of: tuple[str, str] | None = None,
    ) -> AsyncIterator[Watch]:
        """A watch of ``namespace``: of every change, of removals only, or with
        ``ahead_of=(session, key)``, for nothing being ahead of that entry (see Backend)."""
        backend = self._backend
        try:
            async with asyncio.timeout(self.timeout):
                if ahead_of is not None:
                    manager = backend.watch_ahead(namespace, *ahead_of)
                elif removals_only:
                    manager = backend.watch_removals(namespace)
                else:
                    manager = backend.watch(namespace)
                watch = await manager.__aenter__()
        except TimeoutError as exc:
            raise BackendUnavailable(
                str(self.url), "watch", f"no answer within {self.timeout:g} s"
            ) from exc
        except CoordinationError:
            raise
        except Exception as exc:
            raise BackendUnavailable(str(self.url), "watch", self._describe(exc)) from exc
        try:
            yield watch
        finally:
            with contextlib.suppress(Exception):
                await manager.__aexit__(None, None, None)

    async def _forget(self, namespace: str, key: str, *, raise_errors: bool = False) -> None:
        """Delete an entry; if the backend cannot be reached, the keeper retries later."""
        try:
            await self._call("delete", self._backend.delete(namespace, key))
        except asyncio.CancelledError:
            # The delete may or may not have landed: send it again in the background (no
            # shield around every delete: that would cost a task per release).
            if self._closed:
                self._keeper.orphans.add((namespace, key))  # the session's end deletes it
            else:
                self._forget_soon(namespace, key)
            raise
        except CoordinationError:
            self._keeper.orphans.add((namespace, key))
            if raise_errors:
                raise

    def _forget_soon(self, namespace: str, key: str) -> None:
        """Delete an entry in the background (a cancelled caller must not wait for it)."""
        self._keeper.orphans.add((namespace, key))

        async def delete() -> None:
            with contextlib.suppress(CoordinationError):
                await self._forget(namespace, key)
                self._keeper.orphans.discard((namespace, key))

        self._spawn(delete())

    async def _rejoin(self, session: str) -> None:
        """Join every group again on a new session, until it works or the session changes."""
        from anker.coordination._group import Group

        backoff = Backoff(first=0.05, cap=self.lease)
        for name in list(self._memberships):
            while name in self._memberships and self._keeper.session == session:
                try:
                    await Group(self, name)._put(session, self._memberships[name])
                    break
                except SessionExpired:
                    self._keeper.expired(session)
                    return  # the next session joins again
                except CoordinationError as exc:
                    log.warning("joining group %r again failed (%s); retrying", name, exc)
                    await backoff.sleep()

    def _forget_later(self, namespace: str, key: str) -> None:
        """Delete an entry again once a call that may have created it can no longer land.

        A put that timed out or was cancelled may still reach the server after the delete
        that followed it; its entry would then block the queue until the session ends.
        """

        async def again() -> None:
            await asyncio.sleep(self.timeout)
            await self._forget(namespace, key)

        self._spawn(again())

    def _session_lost(self, session: str, reason: str) -> None:
        for hold in list(self._holds):
            hold._mark_lost(session, reason)

    def _call_soon(self, function: Callable[..., object], *args: object) -> None:
        """Run ``function`` on the coordinator's loop: now if this is that loop's thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop or self._loop is None:
            function(*args)
        else:
            self._loop.call_soon_threadsafe(function, *args)

    def _spawn(self, awaitable: Awaitable[Any]) -> asyncio.Task[Any]:
        async def run() -> Any:
            return await awaitable

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        if asyncio.iscoroutine(awaitable):
            # a task cancelled before it ran never started the coroutine: close it, or
            # Python warns that it was never awaited (closing a finished one does nothing)
            coroutine = awaitable
            task.add_done_callback(lambda _: coroutine.close())
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a coordination background task failed", exc_info=task.exception())
