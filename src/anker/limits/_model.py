"""The data of anker.limits, and the one rule every store applies to grant a claim.

Every store keeps, per project and resource, ``used`` (the project's own usage: committed
claims plus reservations not committed yet), ``reserved`` (the part of ``used`` not committed)
and ``subtree`` (``used`` of the project and all its descendants). A claim adds to ``used`` and
``reserved`` of its project and to ``subtree`` of the project and every ancestor; which of
those counters are compared with which limits is the enforcement model's choice
(:func:`binding_level`), so switching models never needs a recount.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "MAX_AMOUNT",
    "MODELS",
    "UNLIMITED",
    "ClaimInfo",
    "Level",
    "Usage",
    "binding_level",
    "check_amounts",
    "check_name",
    "given_back",
]

#: a limit of -1: no limit
UNLIMITED = -1
#: the enforcement models: each project alone; Keystone's two levels; any depth
MODELS = ("flat", "strict-two-level", "hierarchical")
MAX_NAME = 255
#: the largest limit, amount or count: 2**53 - 1, which every store holds exactly (Redis's
#: Lua numbers are doubles; SQLite and PostgreSQL take up to 2**63 - 1)
MAX_AMOUNT = 2**53 - 1


@dataclass(frozen=True, slots=True)
class Usage:
    """One resource of one project: what it uses, and what bounds it.

    ``used`` counts committed claims and reservations (``reserved`` of it not committed yet);
    ``subtree`` is ``used`` of the project and all its descendants; ``limit`` is the
    project's own limit, or the registered default (``UNLIMITED``: none).
    """

    project: str
    resource: str
    used: int
    reserved: int
    subtree: int
    limit: int

    @property
    def committed(self) -> int:
        """The usage of committed claims (what a recount should find)."""
        return self.used - self.reserved


@dataclass(frozen=True, slots=True)
class ClaimInfo:
    """A claim as the store holds it: pending until committed, or committed."""

    id: str
    project: str
    #: the project and its ancestors when the claim was granted (what a release gives back)
    path: tuple[str, ...]
    resources: Mapping[str, int]
    committed: bool
    #: seconds since the epoch (the store's clock)
    created: float
    #: when an uncommitted claim's lease runs out (None once committed)
    expires: float | None
    #: free text the claimer attached (what the claim is for)
    note: str = ""


@dataclass(frozen=True, slots=True)
class Level:
    """One project on a claim's path, with its counters and limit for one resource."""

    project: str
    used: int
    subtree: int
    limit: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a claim is refused: the facts of :class:`~anker.limits.OverQuota`."""

    resource: str
    requested: int
    used: int
    limit: int
    binding: str
    extra: dict[str, object] = field(default_factory=dict)


def binding_level(model: str, levels: Sequence[Level], requested: int) -> tuple[Level, int] | None:
    """The level (leaf first) that refuses ``requested`` more under ``model``, with the usage
    it was compared with; None if every level the model involves allows it.

    ``flat`` compares the project's own usage with its limit; ``strict-two-level`` and
    ``hierarchical`` compare each level's subtree usage with that level's limit (the
    two-level model also keeps the tree two levels deep, which the tree operations check).
    """
    if requested == 0:
        return None
    involved = levels[:1] if model == "flat" else levels
    for level in involved:
        current = level.used if model == "flat" else level.subtree
        if level.limit != UNLIMITED and current + requested > level.limit:
            return level, current
    return None


def check_name(what: str, name: object) -> str:
    """A project or resource name: a non-empty string of at most 255 characters."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME or name != name.strip():
        raise ValueError(
            f"{what} name {name!r}: use a non-empty string of at most {MAX_NAME} characters "
            f"without surrounding spaces"
        )
    return name


def check_amounts(resources: Mapping[str, int]) -> dict[str, int]:
    """A claim's amounts: at least one resource, each a whole number of 0 or more."""
    if not resources:
        raise ValueError("a claim needs at least one resource, e.g. {'cores': 4}")
    checked: dict[str, int] = {}
    for resource, amount in resources.items():
        check_name("resource", resource)
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
            raise ValueError(
                f"amount of {resource!r}: {amount!r} is not a whole number from 0 to {MAX_AMOUNT}"
            )
        checked[resource] = amount
    return checked


def check_limit(resource: str, limit: object) -> int:
    """A limit: a whole number from 0 to :data:`MAX_AMOUNT`, or -1 for unlimited."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not -1 <= limit <= MAX_AMOUNT:
        raise ValueError(
            f"limit of {resource!r}: {limit!r} is not -1 (unlimited) or from 0 to {MAX_AMOUNT}"
        )
    return limit


def given_back(info: ClaimInfo, resource: str, used: int, reserved: int) -> tuple[int, int]:
    """What releasing ``info`` takes off its project's ``used`` and ``reserved`` counters of
    ``resource``: never more than is there, and a committed claim never eats into the
    reservations of pending ones."""
    amount = info.resources[resource]
    if info.committed:
        return min(amount, max(0, used - reserved)), 0
    return min(amount, used), min(amount, reserved)


def finite(value: float) -> float | None:
    """None for an infinite expiry (a committed claim)."""
    return None if math.isinf(value) else value
