"""``sqlite:///path/to/limits.db``: the embedded limits store, for one host.

Every process on the host that opens the file shares the quotas. A claim takes SQLite's write
lock up front (``BEGIN IMMEDIATE``), so checking and reserving is one step against every other
process; readers are never blocked (write-ahead logging). Lease expiry uses the host's wall
clock. With ``?synchronous=normal`` (the default) a commit is synced to disk at the next
checkpoint: a crash of the service loses nothing, a power loss may forget the last claims (a
recount repairs that); ``?synchronous=full`` syncs every claim (one fsync each). Create the
tables once with ``anker quota --url sqlite:///path/to/limits.db upgrade`` (or
``Quota.open(url, upgrade=True)``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from anker._drivers import DriverSettings, setting
from anker.limits._errors import UnknownResource
from anker.limits._model import ClaimInfo
from anker.limits.stores._sql import SQLSettings, SQLStore, check_added, read_lookup

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["SQLiteStore", "SQLiteStoreSettings"]

# The claim's statements in SQLite's own dialect (see _sql.py for what each does).
_LOOKUP = """
WITH RECURSIVE path(id, parent, depth) AS (
    SELECT id, parent, 0 FROM anker_limits_projects WHERE id = ?
    UNION ALL
    SELECT p.id, p.parent, path.depth + 1
    FROM anker_limits_projects p JOIN path ON p.id = path.parent
)
SELECT 'p', id, NULL, depth FROM path
UNION ALL
SELECT 'l', l.project, l.resource, l.hard_limit
FROM anker_limits_limits l JOIN path ON l.project = path.id WHERE l.resource IN ({marks})
UNION ALL
SELECT 'd', NULL, d.resource, d.hard_limit FROM anker_limits_defaults d
WHERE d.resource IN ({marks})
UNION ALL
SELECT 'u', u.project, u.resource, 0
FROM anker_limits_usage u JOIN path ON u.project = path.id WHERE u.resource IN ({marks})
"""
_INSERT_MISSING = """
INSERT INTO anker_limits_usage (project, resource, used, reserved, subtree)
VALUES (?, ?, 0, 0, 0) ON CONFLICT DO NOTHING
"""
_ADD = """
UPDATE anker_limits_usage SET
    used = used + CASE WHEN project = ? THEN ? ELSE 0 END,
    reserved = reserved + CASE WHEN project = ? THEN ? ELSE 0 END,
    subtree = subtree + ?
WHERE resource = ? AND project IN ({marks})
RETURNING project, used, subtree
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

    def _claim_work(
        self, claim_id: str, project: str, resources: Mapping[str, int], lease: float, note: str
    ) -> Callable[[Connection], ClaimInfo]:
        # the same steps as the SQL stores' claim, on the driver's connection: at SQLite's
        # speed, SQLAlchemy's statement handling would cost as much as the work itself
        model = self.settings.model
        wanted = sorted(resources)

        def work(connection: Connection) -> ClaimInfo:
            raw = connection.connection.dbapi_connection
            assert raw is not None
            marks = ", ".join("?" * len(wanted))
            rows = raw.execute(_LOOKUP.format(marks=marks), (project, *wanted, *wanted, *wanted))
            path, own, registered, existing = read_lookup(project, rows)
            involved = path[:1] if model == "flat" else path
            for resource in wanted:
                for level in involved:
                    if (level, resource) not in own and resource not in registered:
                        raise UnknownResource(resource, level)
            missing = [(p, r) for p in path for r in wanted if (p, r) not in existing]
            if missing:
                raw.executemany(_INSERT_MISSING, missing)
            levels_marks = ", ".join("?" * len(path))
            for resource in wanted:
                amount = resources[resource]
                if not amount:
                    continue
                counters = {
                    level: (used, subtree)
                    for level, used, subtree in raw.execute(
                        _ADD.format(marks=levels_marks),
                        (project, amount, project, amount, amount, resource, *path),
                    )
                }
                check_added(
                    model,
                    project,
                    resource,
                    amount,
                    counters=counters,
                    own=own,
                    registered=registered,
                )
            now = time.time()
            raw.execute(
                _INSERT_CLAIM,
                (
                    claim_id,
                    project,
                    json.dumps(path),
                    json.dumps(dict(resources), sort_keys=True),
                    now,
                    now + lease,
                    note,
                ),
            )
            return ClaimInfo(
                claim_id, project, tuple(path), dict(resources), False, now, now + lease, note
            )

        return work

    def begin_write(self, connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
