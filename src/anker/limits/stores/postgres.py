"""``postgresql://user@host/db``: the limits store in PostgreSQL.

Claims go in batches (group commit, :mod:`._combine`): the claims of one process that arrive
while its previous batch is on its way go together in the next, and a lone claim goes at once
as a batch of one. A batch is one call of a server-side function (``anker_limits_claims``,
created by the store's migrations): one statement, one round trip, autocommitted. It locks
the usage rows of every path of the batch in one sorted order (a concurrent batch on an
overlapping path waits, then sees its amounts), checks each claim in order against the
limits and the counters as the earlier granted ones left them, and applies the granted ones;
a refused claim changes nothing and comes back with the facts of its refusal. The locks are
held for that one statement and its commit (one flush to disk for the whole batch). Lease
expiry uses the server's clock, the same for every client. With ``?synchronous=full`` (the
default) a claim's commit is as durable as the server makes every commit;
``?synchronous=normal`` runs the store's sessions with ``synchronous_commit = off``, faster,
but a crash of the server may then forget the claims of its last fraction of a second (never
corrupting anything; a recount repairs it), so it is for deployments that accept that.
Create the tables once with ``anker quota --url URL upgrade``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from anker._drivers import DriverSettings, setting
from anker.limits._errors import OverQuota, UnknownProject, UnknownResource
from anker.limits._model import ClaimInfo
from anker.limits.stores._combine import Combiner, Request
from anker.limits.stores._sql import SQLSettings, SQLStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from anker._url import BackendURL

__all__ = ["PostgresStore", "PostgresStoreSettings"]

#: a batch of claims (the group commit of _combine.py): one call of migration limits0003's
#: function, one statement, autocommitted; ``again`` when it is sent again after a lost
#: connection (its claims may have been granted by the commit whose answer was lost)
_CLAIMS = sa.text("SELECT anker_limits_claims(CAST(:claims AS jsonb), :model, :again)")


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
        self._claims: Combiner[dict[str, Any]] = Combiner(self._send, _granted, self.release)
        self.combiner = self._claims

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
        outcome = await self._claims.submit(claim_id, project, resources, lease, note)
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

    async def _send(self, batch: list[Request[dict[str, Any]]]) -> list[dict[str, Any]]:
        claims = json.dumps(
            [
                {
                    "id": request.id,
                    "project": request.project,
                    "resources": request.resources,
                    "lease": request.lease,
                    "note": request.note,
                }
                for request in batch
            ]
        )
        parameters = {"claims": claims, "model": self.settings.model, "again": False}

        def work() -> list[dict[str, Any]]:
            # one statement in autocommit: one round trip, the row locks held inside it only;
            # a retry after a lost connection (the store's calls are retried) says so, and
            # gets the claims its lost commit granted answered, not applied twice
            with self.engine.connect() as connection:
                autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                sent = dict(parameters)
                parameters["again"] = True
                outcomes: list[dict[str, Any]] = autocommit.execute(_CLAIMS, sent).scalar_one()
                return outcomes

        return await self._run("claim", work, late=self._claims.undo_late(batch))

    def now_expression(self) -> sa.ColumnElement[float]:
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)


def _granted(outcome: dict[str, Any]) -> bool:
    return "error" not in outcome
