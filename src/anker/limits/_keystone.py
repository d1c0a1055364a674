"""Keystone's unified limits, in and out: enforce an OpenStack deployment's limits with anker.

The input is what Keystone's API returns, in one mapping (each key optional)::

    {"registered_limits": [...],   # GET /v3/registered_limits
     "limits": [...],              # GET /v3/limits
     "projects": [...],            # GET /v3/projects (with parent_id; domains as is_domain)
     "domains": [...]}             # GET /v3/domains

Domains become roots of the tree, projects go under their ``parent_id`` (a top-level
project's parent is its domain), registered limits become defaults and project (or domain)
limits become limits. :func:`export_keystone` writes the same shape back: roots as domains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anker.limits._errors import InvalidTree, UnknownProject
from anker.limits._model import check_limit, check_name
from anker.limits._two_level import TwoLevel

if TYPE_CHECKING:
    from anker.limits._quota import Quota

__all__ = ["KeystoneImport", "export_keystone", "import_keystone"]


@dataclass(frozen=True, slots=True)
class KeystoneImport:
    """What :func:`import_keystone` set: how many projects, defaults and limits."""

    projects: int
    defaults: int
    limits: int


def _entries(data: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
    found = data.get(key, [])
    if not isinstance(found, list) or not all(isinstance(entry, Mapping) for entry in found):
        raise ValueError(f"keystone limits: {key!r} must be a list of objects")
    return found


def _field(entry: Mapping[str, Any], name: str, where: str) -> Any:
    if entry.get(name) is None:
        raise ValueError(f"keystone limits: {where} has no {name!r}: {dict(entry)!r}")
    return entry[name]


def _selected(entry: Mapping[str, Any], service_id: str | None, region_id: str | None) -> bool:
    return (service_id is None or entry.get("service_id") == service_id) and (
        region_id is None or entry.get("region_id") in (None, region_id)
    )


async def import_keystone(
    quota: Quota,
    data: Mapping[str, Any],
    *,
    service_id: str | None = None,
    region_id: str | None = None,
) -> KeystoneImport:
    """Load Keystone's projects, registered limits and limits into ``quota``.

    ``service_id`` and ``region_id`` keep only the limits of one service (and region), as
    oslo.limit selects them by its endpoint. Projects are added parents first; a project
    whose parent is missing from ``data`` is a :class:`~anker.limits.InvalidTree`. Every
    entry is checked (names, whole-number limits, the tree) before anything is written; only
    the rules of ``strict-two-level`` are checked as each project and limit is set.
    """
    # every entry is checked before anything is written: a bad file changes nothing
    parents = _tree(data)
    registered: list[tuple[str, int]] = []
    for entry in _entries(data, "registered_limits"):
        if _selected(entry, service_id, region_id):
            name = _field(entry, "resource_name", "a registered limit")
            resource = check_name("resource", str(name))
            registered.append((resource, _limit(entry, "default_limit", resource)))
    own: list[tuple[str, str, int]] = []
    existing = await quota.projects()
    for entry in _entries(data, "limits"):
        if _selected(entry, service_id, region_id):
            resource = check_name("resource", str(_field(entry, "resource_name", "a limit")))
            owner = entry.get("project_id") or entry.get("domain_id")
            if owner is None:
                raise ValueError(f"keystone limits: limit of {resource!r} names no project")
            if str(owner) not in parents and str(owner) not in existing:
                raise UnknownProject(str(owner))
            own.append((str(owner), resource, _limit(entry, "resource_limit", resource)))
    await _write(quota, existing, parents, registered, own)
    return KeystoneImport(len(parents), len(registered), len(own))


async def _write(
    quota: Quota,
    existing: Mapping[str, str | None],
    parents: Mapping[str, str | None],
    registered: list[tuple[str, int]],
    own: list[tuple[str, str, int]],
) -> None:
    """Set the checked entries: projects (parents first), defaults, limits."""
    # strict-two-level's rules as Quota.set_project and set_limit check them, on one read
    # of the store kept up to date (a read of the whole tree per entry was quadratic)
    rules = None
    if quota.model == "strict-two-level":
        rules = TwoLevel(existing, await quota.limits(), await quota.defaults())
    store = quota.store  # names and limits are checked above
    for ident, parent in parents.items():
        if existing.get(ident, ...) != parent:
            if rules is not None:
                rules.apply_project(ident, parent)
            await store.set_project(ident, parent)
    for resource, limit in registered:
        if rules is not None:
            rules.set_default(resource, limit)
        await store.set_default(resource, limit)
    for owner, resource, limit in own:
        if rules is not None:
            rules.apply_limit(owner, resource, limit)
        await store.set_limit(owner, resource, limit)


def _tree(data: Mapping[str, Any]) -> dict[str, str | None]:
    """Every project of ``data`` with its parent, parents first."""
    parents: dict[str, str | None] = {}
    for domain in _entries(data, "domains"):
        parents[str(_field(domain, "id", "a domain"))] = None
    for project in _entries(data, "projects"):
        ident = str(_field(project, "id", "a project"))
        if project.get("is_domain"):
            parents[ident] = None
            continue
        parent = project.get("parent_id") or project.get("domain_id")
        parents[ident] = None if parent is None else str(parent)
    for ident, parent in parents.items():
        check_name("project", ident)
        if parent is not None and parent not in parents:
            raise InvalidTree(f"keystone limits: project {ident!r} has unknown parent {parent!r}")
    order: dict[str, str | None] = {}
    for ident in parents:
        # up to the first project already placed (a loop: a tree may be thousands deep)
        trail: list[str] = []
        at: str | None = ident
        while at is not None and at not in order:
            if at in trail:
                raise InvalidTree(f"keystone limits: a cycle through {at!r}")
            trail.append(at)
            at = parents[at]
        for placed in reversed(trail):
            order[placed] = parents[placed]
    return order


def _limit(entry: Mapping[str, Any], name: str, resource: str) -> int:
    value = _field(entry, name, resource)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"keystone limits: {name} of {resource!r} is not a whole number: {value!r}"
        )
    try:
        return check_limit(resource, value)
    except ValueError as exc:
        raise ValueError(f"keystone limits: {exc}") from None


async def export_keystone(
    quota: Quota, *, service_id: str | None = None, region_id: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``quota``'s tree and limits in the shape :func:`import_keystone` reads (Keystone's):
    roots as domains, every other project with its ``parent_id`` and ``domain_id``."""
    tree = await quota.projects()
    own = await quota.limits()
    registered = await quota.defaults()

    def root(ident: str) -> str:
        while (parent := tree[ident]) is not None:
            ident = parent
        return ident

    projects = [
        {
            "id": ident,
            "parent_id": parent,
            "domain_id": None if parent is None else root(ident),
            "is_domain": parent is None,
        }
        for ident, parent in sorted(tree.items())
    ]
    limits = []
    for ident in sorted(own):
        owner = "domain_id" if tree.get(ident) is None else "project_id"
        other = "project_id" if owner == "domain_id" else "domain_id"
        for resource, value in sorted(own[ident].items()):
            limits.append(
                {
                    owner: ident,
                    other: None,
                    "resource_name": resource,
                    "resource_limit": value,
                    "service_id": service_id,
                    "region_id": region_id,
                }
            )
    registered_limits = [
        {
            "resource_name": resource,
            "default_limit": value,
            "service_id": service_id,
            "region_id": region_id,
        }
        for resource, value in sorted(registered.items())
    ]
    return {"registered_limits": registered_limits, "limits": limits, "projects": projects}
