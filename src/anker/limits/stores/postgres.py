"""``postgresql://user@host/db``: the limits store in PostgreSQL.

A claim is one call of a server-side function (``anker_limits_claim``, created by the
store's migrations): one statement, one round trip. It locks the usage rows of the project
and every ancestor in one sorted order (a concurrent claim on an overlapping path waits, then
sees this one's amounts), checks them against the limits, and either updates them and inserts
the claim or changes nothing and says why. Claims of one process that wait while another is
on its way go together in one transaction (group commit: one flush to disk for all of them,
where the counters' locks would otherwise be held across one flush per claim). Lease expiry
uses the server's clock,
the same for every client. With ``?synchronous=full`` (the default) a claim's commit is as
durable as the server makes every commit; ``?synchronous=normal`` runs the store's sessions
with ``synchronous_commit = off``, faster, but a crash of the server may then forget the
claims of its last fraction of a second (never corrupting anything; a recount repairs it),
so it is for deployments that accept that. Create the tables once with
``anker quota --url URL upgrade``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from anker._drivers import DriverSettings, setting
from anker.limits._errors import OverQuota, UnknownProject, UnknownResource
from anker.limits._model import ClaimInfo
from anker.limits.stores._sql import SQLSettings, SQLStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

    from anker._url import BackendURL

__all__ = ["PostgresStore", "PostgresStoreSettings"]

#: the claim function of migration limits0002
_CLAIM = sa.text(
    "SELECT anker_limits_claim(:id, :project, CAST(:resources AS jsonb), :lease, :note, :model)"
)

#: the counters of every path of a batch of claims (each project and its ancestors, in the
#: resources the claims name), created where missing and then locked, in the one sorted order
#: that every claim locks its own path in: batches and single claims of any number of
#: processes never wait on each other in a cycle
_PATHS = """
    WITH RECURSIVE up(id, parent) AS (
        SELECT id, parent FROM anker_limits_projects WHERE id = ANY(CAST(:projects AS text[]))
        UNION
        SELECT p.id, p.parent FROM anker_limits_projects p JOIN up ON p.id = up.parent
    )
"""
_CREATE_COUNTERS = sa.text(
    _PATHS
    + """
    INSERT INTO anker_limits_usage (project, resource, used, reserved, subtree)
    SELECT up.id, r, 0, 0, 0 FROM up, unnest(CAST(:resources AS text[])) r
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING
    """
)
_LOCK_COUNTERS = sa.text(
    _PATHS
    + """
    SELECT 1 FROM anker_limits_usage
    WHERE project IN (SELECT id FROM up) AND resource = ANY(CAST(:resources AS text[]))
    ORDER BY project, resource
    FOR UPDATE
    """
)
#: the claims of a batch, one call each, in the transaction that holds their counters
_CLAIMS = sa.text(
    """
    SELECT c.id, anker_limits_claim(c.id, c.project, c.resources, c.lease, c.note, :model)
    FROM jsonb_to_recordset(CAST(:claims AS jsonb))
        AS c(id text, project text, resources jsonb, lease double precision, note text)
    """
)
#: the most claims of one process that go in one transaction
CLAIM_BATCH = 64


@dataclass(frozen=True)
class PostgresStoreSettings(SQLSettings):
    """The options of ``postgresql://``: commits durable by default, as the server makes them
    (a quota a crashed server forgot would let the next claims overshoot)."""

    synchronous: str = setting(
        "full",
        choices=("normal", "full"),
        help="full: a claim's commit is as durable as the server's; normal: synchronous_commit"
        " off for the store's sessions (a crash of the server may forget the last claims)",
    )


class PostgresStore(SQLStore):
    """Limits in PostgreSQL; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = PostgresStoreSettings
    settings: PostgresStoreSettings

    insert_claim = sa.text(
        """
        INSERT INTO anker_limits_claims
            (id, project, path, resources, committed, created, expires, note)
        SELECT :id, :project, :path, :resources, :committed, now.at, now.at + :lease, :note
        FROM (SELECT CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION) AS at) now
        RETURNING created, expires
        """
    )

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        #: claims waiting for the next transaction, and the task sending them (see _submit)
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = []
        self._sender: asyncio.Task[None] | None = None

    def prepare_engine(self, engine: Engine) -> None:
        if self.settings.synchronous == "normal":

            def on_connect(dbapi_connection: Any, _record: object) -> None:
                # this engine's sessions only: the store's own connections
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("SET synchronous_commit = off")
                dbapi_connection.commit()

            sa.event.listen(engine, "connect", on_connect)

    async def claim(
        self, claim_id: str, project: str, resources: Mapping[str, int], lease: float, note: str
    ) -> ClaimInfo:
        try:
            return await self._claim(claim_id, project, resources, lease, note)
        except OverQuota:
            if not await self.sweep():  # expired reservations in the way: give them back
                raise
        return await self._claim(claim_id, project, resources, lease, note)

    async def _claim(
        self, claim_id: str, project: str, resources: Mapping[str, int], lease: float, note: str
    ) -> ClaimInfo:
        parameters = {
            "id": claim_id,
            "project": project,
            "resources": json.dumps(dict(resources), sort_keys=True),
            "lease": lease,
            "note": note,
            "model": self.settings.model,
        }

        outcome = await self._submit(parameters)
        error = outcome.get("error")
        if error == "unknown-project":
            raise UnknownProject(project)
        if error == "unknown-resource":
            raise UnknownResource(outcome["resource"], outcome["project"])
        if error == "over":
            raise OverQuota(
                project,
                outcome["resource"],
                requested=int(outcome["requested"]),
                used=int(outcome["used"]),
                limit=int(outcome["limit"]),
                binding=outcome["binding"],
            )
        return ClaimInfo(
            claim_id,
            project,
            tuple(outcome["path"]),
            dict(resources),
            False,
            float(outcome["created"]),
            float(outcome["expires"]),
            note,
        )

    # -- group commit ---------------------------------------------------------------------
    # Eight claimers of one project queue on the same counters, whose locks are held until
    # each commit is flushed to disk: one claim per flush. Claims of this process that arrive
    # while one is on its way go together in the next transaction instead (one flush for
    # all); a claim that finds nothing on its way runs alone, as one autocommitted statement.

    async def _submit(self, parameters: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((parameters, future))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send())
        return await future

    async def _send(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:CLAIM_BATCH]
                del self._waiting[:CLAIM_BATCH]
                batch = [(claim, future) for claim, future in batch if not future.cancelled()]
                if not batch:
                    continue
                claims = [claim for claim, _ in batch]
                work = self._one(claims[0]) if len(claims) == 1 else self._many(claims)
                try:
                    outcomes = await self._run("claim", work)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException as exc:  # cancelled: the claims waiting learn it too
                    for _, future in [*batch, *self._waiting]:
                        if not future.done():
                            future.set_exception(exc)
                    self._waiting.clear()
                    raise
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self._sender = None

    def _one(self, claim: dict[str, Any]) -> Callable[[], list[dict[str, Any]]]:
        def work() -> list[dict[str, Any]]:
            # one statement in autocommit: one round trip, the row locks held inside it only
            with self.engine.connect() as connection:
                autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                return [autocommit.execute(_CLAIM, claim).scalar_one()]

        return work

    def _many(self, claims: list[dict[str, Any]]) -> Callable[[], list[dict[str, Any]]]:
        projects = sorted({claim["project"] for claim in claims})
        resources = sorted({r for claim in claims for r in json.loads(claim["resources"])})
        batch = json.dumps(
            [
                {
                    "id": claim["id"],
                    "project": claim["project"],
                    "resources": json.loads(claim["resources"]),
                    "lease": claim["lease"],
                    "note": claim["note"],
                }
                for claim in claims
            ]
        )
        where = {"projects": projects, "resources": resources}

        def work() -> list[dict[str, Any]]:
            with self.engine.begin() as connection:
                connection.execute(_CREATE_COUNTERS, where)
                connection.execute(_LOCK_COUNTERS, where)
                rows = connection.execute(
                    _CLAIMS, {"claims": batch, "model": self.settings.model}
                ).all()
            by_id: dict[str, dict[str, Any]] = {row[0]: row[1] for row in rows}
            return [by_id[claim["id"]] for claim in claims]

        return work

    def now_expression(self) -> sa.ColumnElement[float]:
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
