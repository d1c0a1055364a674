"""The limits SQL stores' tables and the row-level work a claim is made of: reading a
path's counters and limits, adding to them, checking the new values, the rows of claims.

The tables are created only by this package's migrations; :mod:`._sql` drives the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from anker.limits._errors import UnknownProject
from anker.limits._model import ClaimInfo, given_back

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_meta = sa.MetaData()
_NAME = sa.String(255)
projects = sa.Table(
    "anker_limits_projects",
    _meta,
    sa.Column("id", _NAME, primary_key=True),
    sa.Column("parent", _NAME),
)
defaults = sa.Table(
    "anker_limits_defaults",
    _meta,
    sa.Column("resource", _NAME, primary_key=True),
    sa.Column("hard_limit", sa.BigInteger),
)
limits = sa.Table(
    "anker_limits_limits",
    _meta,
    sa.Column("project", _NAME, primary_key=True),
    sa.Column("resource", _NAME, primary_key=True),
    sa.Column("hard_limit", sa.BigInteger),
)
usage = sa.Table(
    "anker_limits_usage",
    _meta,
    sa.Column("project", _NAME, primary_key=True),
    sa.Column("resource", _NAME, primary_key=True),
    sa.Column("used", sa.BigInteger),
    sa.Column("reserved", sa.BigInteger),
    sa.Column("subtree", sa.BigInteger),
)
claims = sa.Table(
    "anker_limits_claims",
    _meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("project", _NAME),
    sa.Column("path", sa.Text),
    sa.Column("resources", sa.Text),
    sa.Column("committed", sa.Boolean),
    sa.Column("created", sa.Float),
    sa.Column("expires", sa.Float),
    sa.Column("note", sa.Text),
)


def _minus(column: sa.ColumnElement[int], amount: int) -> sa.ColumnElement[int]:
    """``column - amount``, never below 0 (a double release gives back nothing twice)."""
    return sa.case((column >= amount, column - amount), else_=0)


def give_back(
    connection: Connection,
    gone: Iterable[ClaimInfo],
    locked: Callable[[sa.Select[Any]], sa.Select[Any]],
) -> None:
    """Delete claims and take their amounts off the counters: a committed claim takes
    off at most the committed usage left (a recount may have lowered it), a pending one
    its reservation; the ancestors' subtrees lose what the project lost. ``locked`` adds the
    store's row locks to the read of the counters."""
    for info in gone:
        connection.execute(claims.delete().where(claims.c.id == info.id))
        wanted = sorted(info.resources)
        rows = {
            (row.project, row.resource): row
            for row in connection.execute(
                locked(
                    sa.select(usage)
                    .where(usage.c.project.in_(info.path), usage.c.resource.in_(wanted))
                    .order_by(usage.c.project, usage.c.resource)
                )
            )
        }
        for resource in wanted:
            own = rows.get((info.project, resource))
            if own is None:
                continue
            taken, unreserved = given_back(info, resource, own.used, own.reserved)
            connection.execute(
                usage.update()
                .where(usage.c.project == info.project, usage.c.resource == resource)
                .values(used=own.used - taken, reserved=own.reserved - unreserved)
            )
            if taken:
                connection.execute(
                    usage.update()
                    .where(usage.c.project.in_(info.path), usage.c.resource == resource)
                    .values(subtree=_minus(usage.c.subtree, taken))
                )


def read_lookup(
    project: str, rows: Iterable[Any]
) -> tuple[list[str], dict[tuple[str, str], int], dict[str, int], set[tuple[str, str]]]:
    """The path (leaf first), limits, defaults and existing counters from the rows of a claim's
    lookup query; :class:`UnknownProject` if the path is empty."""
    rank: dict[str, int] = {}
    own: dict[tuple[str, str], int] = {}
    registered: dict[str, int] = {}
    existing: set[tuple[str, str]] = set()
    for kind, level, resource, value in rows:
        if kind == "p":
            rank[level] = int(value)
        elif kind == "l":
            own[(level, resource)] = int(value)
        elif kind == "d":
            registered[resource] = int(value)
        else:
            existing.add((level, resource))
    if not rank:
        raise UnknownProject(project)
    return sorted(rank, key=rank.__getitem__), own, registered, existing


def _zero(project: str, resource: str) -> dict[str, Any]:
    return {"project": project, "resource": resource, "used": 0, "reserved": 0, "subtree": 0}


def _row(info: ClaimInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "project": info.project,
        "path": json.dumps(list(info.path)),
        "resources": json.dumps(dict(info.resources), sort_keys=True),
        "committed": info.committed,
        "created": info.created,
        "expires": info.expires,
        "note": info.note,
    }


def _info(row: Any) -> ClaimInfo:
    return ClaimInfo(
        id=row.id,
        project=row.project,
        path=tuple(json.loads(row.path)),
        resources=MappingProxyType(json.loads(row.resources)),
        committed=bool(row.committed),
        created=row.created,
        expires=row.expires,
        note=row.note,
    )
