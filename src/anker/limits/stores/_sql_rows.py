"""The limits SQL stores' tables and the row-level work a claim is made of: reading a
path's counters and limits, adding to them, checking the new values, the rows of claims.

The tables are created only by this package's migrations; :mod:`._sql` drives the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from anker.limits._errors import OverQuota, UnknownProject
from anker.limits._model import ClaimInfo, Level, binding_level

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


#: a claim's one read: the project's path (kind p, with its depth), the limits on the path (l),
#: the registered defaults (d) and the usage counters that exist (u) of the wanted resources
_LOOKUP = sa.text(
    """
    WITH RECURSIVE path(id, parent, depth) AS (
        SELECT id, parent, 0 FROM anker_limits_projects WHERE id = :project
        UNION ALL
        SELECT p.id, p.parent, path.depth + 1
        FROM anker_limits_projects p JOIN path ON p.id = path.parent
    )
    SELECT 'p', id, CAST(NULL AS VARCHAR(255)), CAST(depth AS BIGINT) FROM path
    UNION ALL
    SELECT 'l', l.project, l.resource, l.hard_limit
    FROM anker_limits_limits l JOIN path ON l.project = path.id
    WHERE l.resource IN :resources
    UNION ALL
    SELECT 'd', CAST(NULL AS VARCHAR(255)), d.resource, d.hard_limit
    FROM anker_limits_defaults d WHERE d.resource IN :resources
    UNION ALL
    SELECT 'u', u.project, u.resource, CAST(0 AS BIGINT)
    FROM anker_limits_usage u JOIN path ON u.project = path.id
    WHERE u.resource IN :resources
    """
).bindparams(sa.bindparam("resources", expanding=True))


#: add a claim's amount of one resource to its project's counters and its path's subtrees
_ADD = sa.text(
    """
    UPDATE anker_limits_usage SET
        used = used + CASE WHEN project = :project THEN :amount ELSE 0 END,
        reserved = reserved + CASE WHEN project = :project THEN :amount ELSE 0 END,
        subtree = subtree + :amount
    WHERE resource = :resource AND project IN :path
    RETURNING project, used, subtree
    """
).bindparams(sa.bindparam("path", expanding=True))


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


def given_back(info: ClaimInfo, resource: str, used: int, reserved: int) -> tuple[int, int]:
    """What releasing ``info`` takes off its project's ``used`` and ``reserved`` counters of
    ``resource``: never more than is there, and a committed claim never eats into the
    reservations of pending ones."""
    amount = info.resources[resource]
    if info.committed:
        return min(amount, max(0, used - reserved)), 0
    return min(amount, used), min(amount, reserved)


def check_added(
    model: str,
    project: str,
    resource: str,
    amount: int,
    *,
    counters: Mapping[str, tuple[int, int]],
    own: Mapping[tuple[str, str], int],
    registered: Mapping[str, int],
) -> None:
    """Raise :class:`OverQuota` if ``amount`` of ``resource``, just added, took a level of
    ``counters`` (level -> its new used and subtree, leaf first) over its limit."""
    levels = []
    for level, (used, subtree) in counters.items():
        limit = own.get((level, resource), registered.get(resource, 0))
        before_used = used - (amount if level == project else 0)
        levels.append(Level(level, before_used, subtree - amount, limit))
    refused = binding_level(model, levels, amount)
    if refused is not None:
        binding, current = refused
        raise OverQuota(
            project,
            resource,
            requested=amount,
            used=current,
            limit=binding.limit,
            binding=binding.project,
        )


def _lookup(
    connection: Connection, project: str, wanted: list[str]
) -> tuple[list[str], dict[tuple[str, str], int], dict[str, int], set[tuple[str, str]]]:
    """One read, no locks: ``project``'s path (leaf first), the limits on it and the
    registered defaults of ``wanted``, and which of their usage counters exist."""
    return read_lookup(
        project, connection.execute(_LOOKUP, {"project": project, "resources": wanted})
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


def _add(
    connection: Connection, project: str, path: list[str], amounts: Mapping[str, int]
) -> dict[tuple[str, str], tuple[int, int]]:
    """Add ``amounts`` to the counters of ``project`` and its path, one statement per
    resource in sorted order; the new (used, subtree) of each. The UPDATE locks the rows until
    the transaction ends, so the caller's check sees what every earlier claim left, and a
    refusal rolls it all back."""
    after = {}
    for resource in sorted(amounts):
        parameters = {
            "project": project,
            "resource": resource,
            "amount": amounts[resource],
            "path": path,
        }
        for row in connection.execute(_ADD, parameters):
            after[(row.project, resource)] = (row.used, row.subtree)
    return after


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
