"""``sqlite:///path/to/limits.db``: the embedded limits store, for one host.

Every process on the host that opens the file shares the quotas. A claim takes SQLite's write
lock up front (``BEGIN IMMEDIATE``), so checking and reserving is one step against every other
process; readers are never blocked (write-ahead logging). The claims of one process that
wait while another transaction of it holds the lock go together in the next one (group
commit, :mod:`._combine`): one read of each project's path, limits and counters, the checks
in Python in the order the claims came, one upsert of the counters and one insert of the
granted claims. Lease expiry uses the host's wall clock. With ``?synchronous=normal`` (the
default) a commit is synced to disk at the next checkpoint: a crash of the service loses
nothing, a power loss may forget the last claims (a recount repairs that);
``?synchronous=full`` syncs every transaction (one fsync per batch of claims). Create the
tables once with ``anker quota --url sqlite:///path/to/limits.db upgrade`` (or
``Quota.open(url, upgrade=True)``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from anker._drivers import DriverSettings, setting
from anker.limits._errors import LimitsError, UnknownProject
from anker.limits._model import ClaimInfo
from anker.limits.stores._combine import Batch, Combiner, Request, claim_info
from anker.limits.stores._sql import SQLSettings, SQLStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from anker._url import BackendURL

__all__ = ["SQLiteStore", "SQLiteStoreSettings"]

# A batch of claims in SQLite's own dialect: one read per project of the batch (its path, the
# limits on it, the registered defaults and the counters of the batch's resources), one upsert
# of every counter the granted claims change, one insert of their rows.
_LOOKUP = """
WITH RECURSIVE path(id, parent, depth) AS (
    SELECT id, parent, 0 FROM anker_limits_projects WHERE id = ?
    UNION ALL
    SELECT p.id, p.parent, path.depth + 1
    FROM anker_limits_projects p JOIN path ON p.id = path.parent
)
SELECT 'p', id, NULL, depth, NULL FROM path
UNION ALL
SELECT 'l', l.project, l.resource, l.hard_limit, NULL
FROM anker_limits_limits l JOIN path ON l.project = path.id WHERE l.resource IN ({marks})
UNION ALL
SELECT 'd', NULL, d.resource, d.hard_limit, NULL FROM anker_limits_defaults d
WHERE d.resource IN ({marks})
UNION ALL
SELECT 'u', u.project, u.resource, u.used, u.subtree
FROM anker_limits_usage u JOIN path ON u.project = path.id WHERE u.resource IN ({marks})
"""
_ADD = """
INSERT INTO anker_limits_usage (project, resource, used, reserved, subtree)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (project, resource) DO UPDATE SET
    used = used + excluded.used,
    reserved = reserved + excluded.reserved,
    subtree = subtree + excluded.subtree
"""
_INSERT_CLAIM = """
INSERT INTO anker_limits_claims
    (id, project, path, resources, committed, created, expires, note)
VALUES (?, ?, ?, ?, 0, ?, ?, ?)
"""


@dataclass(frozen=True)
class SQLiteStoreSettings(SQLSettings):
    """The options of ``sqlite://``."""

    #: create the database file when it is missing (never its folder)
    create: bool = setting(True, help="create a missing database file (never its folder)")


class SQLiteStore(SQLStore):
    """Limits in a SQLite file; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = SQLiteStoreSettings
    settings: SQLiteStoreSettings
    row_locks: ClassVar[bool] = False

    def engine_options(self) -> dict[str, object]:
        # a claim waits for the write lock as long as a call may take
        return {
            "sqlite_busy_timeout": self.settings.timeout,
            "sqlite_create": self.settings.create,
        }

    def prepare_engine(self, engine: Engine) -> None:
        synchronous = self.settings.synchronous.upper()

        def on_connect(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.execute(f"PRAGMA synchronous = {synchronous}")

        sa.event.listen(engine, "connect", on_connect)

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        self._claims: Combiner[ClaimInfo | LimitsError] = Combiner(
            self._send, _granted, self.release
        )
        self.combiner = self._claims

    async def _claim_once(
        self, claim_id: str, project: str, resources: Mapping[str, int], lease: float, note: str
    ) -> ClaimInfo:
        outcome = await self._claims.submit(claim_id, project, resources, lease, note)
        if isinstance(outcome, LimitsError):
            raise outcome
        return outcome

    async def _send(
        self, batch: list[Request[ClaimInfo | LimitsError]]
    ) -> list[ClaimInfo | LimitsError]:
        def work(connection: Connection) -> list[ClaimInfo | LimitsError]:
            raw = connection.connection.dbapi_connection
            assert raw is not None
            try:
                return self._claim_batch(raw, batch)
            except sqlite3.Error as exc:  # the driver's own: anker.db never saw it
                raise self.unavailable(str(self.url), "claim", str(exc)) from exc

        return await self._write("claim", work, late=self._claims.undo_late(batch))

    def _claim_batch(
        self, raw: Any, batch: list[Request[ClaimInfo | LimitsError]]
    ) -> list[ClaimInfo | LimitsError]:
        """Check the claims of ``batch`` in order and apply the granted ones, on the driver's
        connection inside the write transaction (at SQLite's speed, SQLAlchemy's statement
        handling would cost as much as the work itself)."""
        checks = self._read_batch(raw, batch)
        paths = checks.paths
        outcomes: list[ClaimInfo | LimitsError] = []
        rows = []
        now = time.time()
        texts: dict[object, str] = {}  # the JSON of each path and each set of amounts
        for request in batch:
            project = request.project
            if project not in paths:
                outcomes.append(UnknownProject(project))
                continue
            refused = checks.refusal(project, request.resources)
            if refused is not None:
                outcomes.append(refused)
                continue
            checks.add(project, request.resources)
            info = claim_info(request, paths[project], now)
            amounts = tuple(info.resources.items())
            if (path_text := texts.get(project)) is None:
                path_text = texts[project] = json.dumps(paths[project])
            if (amounts_text := texts.get(amounts)) is None:
                amounts_text = texts[amounts] = json.dumps(info.resources, sort_keys=True)
            rows.append((info.id, project, path_text, amounts_text, now, info.expires, info.note))
            outcomes.append(info)
        changes = checks.changes
        if changes:
            raw.executemany(_ADD, [(*key, *change) for key, change in sorted(changes.items())])
        if rows:
            raw.executemany(_INSERT_CLAIM, rows)
        return outcomes

    def _read_batch(self, raw: Any, batch: list[Request[ClaimInfo | LimitsError]]) -> Batch:
        """One read per project of ``batch``: its path, the limits on it, the defaults and
        the counters of the batch's resources."""
        wanted = sorted({resource for request in batch for resource in request.resources})
        lookup = _LOOKUP.format(marks=", ".join("?" * len(wanted)))
        paths: dict[str, list[str]] = {}
        own: dict[tuple[str, str], int] = {}
        registered: dict[str, int] = {}
        counters: dict[tuple[str, str], list[int]] = {}
        for project in dict.fromkeys(request.project for request in batch):
            rank: dict[str, int] = {}
            for kind, level, resource, value, subtree in raw.execute(
                lookup, (project, *wanted, *wanted, *wanted)
            ):
                if kind == "p":
                    rank[level] = value
                elif kind == "l":
                    own[(level, resource)] = value
                elif kind == "d":
                    registered[resource] = value
                else:
                    counters[(level, resource)] = [value, subtree]
            if rank:
                paths[project] = sorted(rank, key=rank.__getitem__)
        return Batch(self.settings.model, paths, own, registered, counters)

    def begin_write(self, connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _granted(outcome: ClaimInfo | LimitsError) -> bool:
    return isinstance(outcome, ClaimInfo)
