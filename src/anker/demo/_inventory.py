"""The demo cloud's own database: its servers, where they run, and in which state.

A real service keeps this in its database too (nova's ``instances`` table); the workflow
store keeps how far each create or delete got, this table what exists.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["Inventory", "ServerRow", "metadata"]

metadata = sa.MetaData()

servers = sa.Table(
    "anker_demo_servers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    # several demo clouds may share one PostgreSQL: each sees only its own rows
    sa.Column("cloud", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("cores", sa.Integer, nullable=False),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("claim", sa.String(64), nullable=True),
    sa.Column("run", sa.String(64), nullable=True),
    sa.Column("created", sa.Float, nullable=False),
)


@dataclass(frozen=True)
class ServerRow:
    """One server as the inventory holds it."""

    id: str
    name: str
    cores: int
    host: str | None
    state: str
    claim: str | None
    run: str | None
    created: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Inventory:
    """The servers of one cloud (``cloud``) in the database ``engine`` opens."""

    def __init__(self, engine: AsyncEngine, cloud: str) -> None:
        self.engine = engine
        self.cloud = cloud

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def create_tables(self) -> None:
        """Create the table (the demo's set-up step; a service never does it at start)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

    async def forget_all(self) -> None:
        """Delete every row of this cloud (what an earlier demo with its id left)."""
        async with self.engine.begin() as connection:
            await connection.execute(servers.delete().where(servers.c.cloud == self.cloud))

    async def add(self, server_id: str, name: str, cores: int, claim: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                servers.insert().values(
                    id=server_id,
                    cloud=self.cloud,
                    name=name,
                    cores=cores,
                    state="BUILDING",
                    claim=claim,
                    created=time.time(),
                )
            )

    async def update(self, server_id: str, **values: Any) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                servers.update()
                .where(servers.c.id == server_id, servers.c.cloud == self.cloud)
                .values(**values)
            )

    async def get(self, server_id: str) -> ServerRow | None:
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    servers.select().where(servers.c.id == server_id, servers.c.cloud == self.cloud)
                )
            ).one_or_none()
        return None if row is None else _row(row)

    async def list(self) -> list[ServerRow]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                servers.select()
                .where(servers.c.cloud == self.cloud, servers.c.state != "DELETED")
                .order_by(servers.c.created)
            )
            return [_row(row) for row in rows]

    async def cores_used(self) -> dict[str, int]:
        """Cores allocated on each host, by servers that are not deleted."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(servers.c.host, sa.func.sum(servers.c.cores))
                .where(
                    servers.c.cloud == self.cloud,
                    servers.c.host.is_not(None),
                    servers.c.state != "DELETED",
                )
                .group_by(servers.c.host)
            )
            return {host: int(used) for host, used in rows}


def _row(row: Any) -> ServerRow:
    return ServerRow(
        id=row.id,
        name=row.name,
        cores=row.cores,
        host=row.host,
        state=row.state,
        claim=row.claim,
        run=row.run,
        created=row.created,
    )
