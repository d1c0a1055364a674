"""``sqlite:///path/to/file.db`` and ``file:///dir``: the embedded backend, for one host.

Sessions and entries are rows of one SQLite file (``file:///dir`` uses ``dir/coordination.db``),
shared by every process on the host that opens it. Leases are measured on the host's monotonic
clock (``CLOCK_MONOTONIC``, the same for every process and immune to wall-clock jumps), so the
file is only meaningful on one host: do not put it on a network filesystem.

Tokens come from an ``AUTOINCREMENT`` key, which SQLite never reuses, so they keep increasing
across restarts. Watchers in the same process are woken at once; watchers in other processes see
a per-namespace change counter, which they read every ``poll`` seconds (default 0.02): the one
place in anker.coordination that polls, because SQLite has no way to notify another process.

A missing database is created readable by its owner only (``file:///dir`` also creates ``dir``
itself), but never a missing parent folder: a mistyped path fails instead of leaving folders
behind. With ``?create=false`` (what ``anker coord`` uses, since it only reads) nothing is
created at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from anker._drivers import DriverSettings, Seconds, setting
from anker._engines.sqlite import DatabaseMissing, connect_sqlite, file_path
from anker.coordination._backend import (
    Backend,
    CoordinationSettings,
    Entry,
    EntryExists,
    SessionExpired,
    Watch,
)
from anker.errors import InvalidURL

if TYPE_CHECKING:
    from anker._url import BackendURL

__all__ = ["SQLiteBackend"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    token INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    session TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (namespace, key)
);
CREATE INDEX IF NOT EXISTS entries_by_session ON entries (session);
CREATE TABLE IF NOT EXISTS changes (
    namespace TEXT PRIMARY KEY,
    counter INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _boot_id() -> str:
    """This boot of the host: the monotonic clock starts again at every boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


@dataclass(frozen=True)
class SQLiteSettings(CoordinationSettings):
    """The options of ``file://`` and ``sqlite://``."""

    #: create the database when it is missing (never a missing parent folder)
    create: bool = setting(True, help="create a missing database (never its parent folder)")
    #: how often waiters in other processes look for changes
    poll: Seconds = setting(
        Seconds(0.02), min=0.001, max=10, help="seconds between looks for other processes' changes"
    )


class SQLiteBackend(Backend):
    """Coordination through a SQLite file; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = SQLiteSettings
    settings: SQLiteSettings
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        if url.endpoints:
            raise InvalidURL(str(url), f"{url.scheme}:// takes a path only, not a host")
        if not url.path or url.path == "/":
            raise InvalidURL(
                str(url), f"{url.scheme}:// needs a path, e.g. {url.scheme}:///var/lib/svc"
            )
        path = file_path(url.path, str(url))
        self.path = path / "coordination.db" if url.scheme == "file" else path
        self.poll = self.settings.poll
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        # namespace -> events of this process's open watches
        self._local: dict[str, set[asyncio.Event]] = {}

    # ------------------------------------------------------------------ plumbing
    async def _call(self, function: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            with self._lock:
                if self._db is None:
                    raise RuntimeError("the backend is closed")
                return function(self._db)

        return await asyncio.to_thread(run)

    async def _write(self, function: Callable[[sqlite3.Connection], T]) -> T:
        def transaction(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = function(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return await self._call(transaction)

    def _notify(self, namespaces: set[str]) -> None:
        for namespace in namespaces:
            for event in self._local.get(namespace, ()):
                event.set()

    @staticmethod
    def _touch(db: sqlite3.Connection, namespaces: set[str]) -> None:
        db.executemany(
            "INSERT INTO changes (namespace, counter) VALUES (?, 1) "
            "ON CONFLICT (namespace) DO UPDATE SET counter = counter + 1",
            [(namespace,) for namespace in namespaces],
        )

    @classmethod
    def _purge(cls, db: sqlite3.Connection) -> set[str]:
        """Delete dead sessions and their entries; return the namespaces that changed."""
        now = time.monotonic()
        dead = [row[0] for row in db.execute("SELECT id FROM sessions WHERE expires <= ?", (now,))]
        if not dead:
            return set()
        marks = ",".join("?" * len(dead))
        changed = {
            row[0]
            for row in db.execute(
                f"SELECT DISTINCT namespace FROM entries WHERE session IN ({marks})", dead
            )
        }
        db.execute(f"DELETE FROM entries WHERE session IN ({marks})", dead)
        db.execute(f"DELETE FROM sessions WHERE id IN ({marks})", dead)
        cls._touch(db, changed)
        return changed

    # ------------------------------------------------------------------ the interface
    async def connect(self) -> None:
        def open_db() -> sqlite3.Connection:
            folder = self.path.parent
            if self.url.scheme == "file" and self.settings.create and not folder.is_dir():
                if not folder.parent.is_dir():
                    raise DatabaseMissing(f"no folder {folder.parent} to create {folder.name} in")
                with contextlib.suppress(FileExistsError):
                    folder.mkdir(mode=0o700)  # the folder the URL names, never its parents
            db = connect_sqlite(self.path, create=self.settings.create, timeout=self.timeout)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            # Leases from an earlier boot were measured on a clock that has started again.
            db.execute("BEGIN IMMEDIATE")
            boot = _boot_id()
            row = db.execute("SELECT value FROM meta WHERE key = 'boot'").fetchone()
            if row is None or row[0] != boot:
                db.execute("DELETE FROM entries")
                db.execute("DELETE FROM sessions")
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('boot', ?)", (boot,))
            db.execute("COMMIT")
            return db

        self._db = await asyncio.to_thread(open_db)

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with self._lock:
                db.close()

    async def create_session(self) -> str:
        session = uuid.uuid4().hex

        def create(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO sessions (id, expires) VALUES (?, ?)",
                (session, time.monotonic() + self.lease),
            )

        await self._write(create)
        return session

    async def renew_session(self, session: str) -> None:
        def renew(db: sqlite3.Connection) -> set[str]:
            changed = self._purge(db)
            cursor = db.execute(
                "UPDATE sessions SET expires = ? WHERE id = ?",
                (time.monotonic() + self.lease, session),
            )
            if cursor.rowcount == 0:
                raise SessionExpired(f"session {session} expired")
            return changed

        self._notify(await self._write(renew))

    async def end_session(self, session: str) -> None:
        def end(db: sqlite3.Connection) -> set[str]:
            changed = {
                row[0]
                for row in db.execute(
                    "SELECT DISTINCT namespace FROM entries WHERE session = ?", (session,)
                )
            }
            db.execute("DELETE FROM entries WHERE session = ?", (session,))
            db.execute("DELETE FROM sessions WHERE id = ?", (session,))
            self._touch(db, changed)
            return changed

        self._notify(await self._write(end))

    async def put(self, session: str, namespace: str, key: str, value: bytes) -> int:
        return (await self._put(session, namespace, key, value, read=False))[0]

    async def put_and_read(
        self, session: str, namespace: str, key: str, value: bytes
    ) -> tuple[int, list[Entry]]:
        return await self._put(session, namespace, key, value, read=True)

    async def _put(
        self, session: str, namespace: str, key: str, value: bytes, *, read: bool
    ) -> tuple[int, list[Entry]]:
        def put(db: sqlite3.Connection) -> tuple[int, list[Entry], set[str]]:
            changed = self._purge(db)
            alive = db.execute("SELECT 1 FROM sessions WHERE id = ?", (session,)).fetchone()
            if alive is None:
                raise SessionExpired(f"session {session} expired")
            try:
                cursor = db.execute(
                    "INSERT INTO entries (namespace, key, value, session, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (namespace, key, value, session, time.time()),
                )
            except sqlite3.IntegrityError as exc:
                raise EntryExists(f"{namespace}/{key} exists") from exc
            changed.add(namespace)
            self._touch(db, {namespace})
            assert cursor.lastrowid is not None
            return cursor.lastrowid, self._read(db, namespace) if read else [], changed

        token, found, changed = await self._write(put)
        self._notify(changed)
        return token, found

    async def delete(self, namespace: str, key: str) -> None:
        def delete(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "DELETE FROM entries WHERE namespace = ? AND key = ?", (namespace, key)
            )
            if cursor.rowcount:
                self._touch(db, {namespace})
            return cursor.rowcount > 0

        if await self._write(delete):
            self._notify({namespace})

    @staticmethod
    def _read(db: sqlite3.Connection, namespace: str) -> list[Entry]:
        now = time.monotonic()
        rows = db.execute(
            "SELECT e.key, e.value, e.token, e.session, e.created, s.expires "
            "FROM entries e JOIN sessions s ON s.id = e.session "
            "WHERE e.namespace = ? ORDER BY e.token",
            (namespace,),
        ).fetchall()
        return [
            Entry(key, bytes(value), token, session, created, max(0.0, expires - now))
            for key, value, token, session, created, expires in rows
        ]

    async def entries(self, namespace: str) -> list[Entry]:
        def read(db: sqlite3.Connection) -> tuple[list[Entry], set[str]]:
            changed = self._purge(db)
            return self._read(db, namespace), changed

        found, changed = await self._write(read)
        self._notify(changed)
        return found

    @contextlib.asynccontextmanager
    async def watch(self, namespace: str) -> AsyncIterator[Watch]:
        event = asyncio.Event()
        self._local.setdefault(namespace, set()).add(event)
        try:
            watch = _SQLiteWatch(self, namespace, event)
            watch.counter = await self._counter(namespace)
            yield watch
        finally:
            events = self._local.get(namespace)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._local[namespace]

    async def _counter(self, namespace: str) -> int:
        def read(db: sqlite3.Connection) -> int:
            row = db.execute(
                "SELECT counter FROM changes WHERE namespace = ?", (namespace,)
            ).fetchone()
            return int(row[0]) if row else 0

        return await self._call(read)

    async def namespaces(self, prefix: str) -> list[str]:
        def read(db: sqlite3.Connection) -> tuple[list[str], set[str]]:
            changed = self._purge(db)
            pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = db.execute(
                "SELECT DISTINCT namespace FROM entries WHERE namespace LIKE ? ESCAPE '\\' "
                "ORDER BY namespace",
                (pattern,),
            ).fetchall()
            return [row[0] for row in rows], changed

        found, changed = await self._write(read)
        self._notify(changed)
        return found


class _SQLiteWatch(Watch):
    def __init__(self, backend: SQLiteBackend, namespace: str, event: asyncio.Event) -> None:
        self.backend = backend
        self.namespace = namespace
        self.event = event
        self.counter = 0

    async def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            counter = await self.backend._counter(self.namespace)
            if counter != self.counter or self.event.is_set():
                self.counter = counter
                self.event.clear()
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), min(left, self.backend.poll))
