"""Spreading keys over the members of a group, and moving as few as possible when it changes.

Weighted rendezvous hashing: each key goes to the member with the highest score
``-weight / ln(h)``, where ``h`` in (0, 1) is a hash of the key and the member id. A member
that joins takes from each other member only the keys it now scores highest on, a member that
leaves hands only its own keys over, and a member of weight 2 gets twice the keys of a member
of weight 1, on average. Every member computes the same answer from the same member list, with
no coordination beyond the group itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from anker.coordination._errors import CoordinationError

if TYPE_CHECKING:
    from anker.coordination._group import Group, GroupWatch, Member

__all__ = ["Partitioner", "owner_of"]

log = logging.getLogger("anker.coordination")

RebalanceCallback = Callable[[set[str], set[str]], object]


def _score(key: str, member: str, weight: float) -> float:
    digest = hashlib.blake2b(f"{member}\0{key}".encode(), digest_size=8).digest()
    # map to (0, 1): never 0 (log undefined) and never 1 (log 0)
    unit = (int.from_bytes(digest, "big") + 1) / (2**64 + 2)
    return -weight / math.log(unit)


def owner_of(key: str, weights: dict[str, float]) -> str | None:
    """The member that owns ``key`` among ``weights`` (member id to weight), or None."""
    best, best_score = None, -1.0
    for member, weight in weights.items():
        score = _score(key, member, weight)
        if score > best_score or (score == best_score and best is not None and member < best):
            best, best_score = member, score
    return best


def _weight(member: Member) -> float:
    weight = member.capabilities.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
        return 1.0
    return float(weight)


class Partitioner:
    """Keys spread over a group's members; made by :meth:`Coordinator.partitioner`.

    ::

        partitioner = coordinator.partitioner("workers", weight=2)
        await partitioner.start(keys=shard_ids, on_rebalance=move_shards)
        if partitioner.owns("shard-7"):
            ...

    .. versionadded:: 0.1
    """

    def __init__(self, group: Group, *, weight: float = 1.0) -> None:
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise ValueError(f"partitioner weight must be a positive number, got {weight!r}")
        self.group = group
        self.weight = float(weight)
        self.weights: dict[str, float] = {}
        self._keys: set[str] = set()
        self._mine: set[str] = set()
        self._on_rebalance: RebalanceCallback | None = None
        self._watch: GroupWatch | None = None

    @property
    def member_id(self) -> str:
        """This member's id in the group (its coordinator's)."""
        return self.group.coordinator.member_id

    async def start(
        self, keys: Iterable[str] = (), *, on_rebalance: RebalanceCallback | None = None
    ) -> None:
        """Join the group with this member's weight and follow its membership.

        ``on_rebalance(gained, lost)`` is called with the keys (among ``keys``, see
        :meth:`assign`) this member gained and lost each time the membership changes.
        """
        if self._watch is not None:
            raise CoordinationError(f"partitioner of group {self.group.name!r} already started")
        self._keys = set(keys)
        self._on_rebalance = on_rebalance
        self._watch = self.group.watch(on_join=self._membership, on_leave=self._membership)
        await self._watch.started.wait()
        await self.group.join({"weight": self.weight})
        await self.refresh()

    async def stop(self) -> None:
        """Leave the group and stop following it."""
        watch, self._watch = self._watch, None
        if watch is not None:
            await watch.stop()
        with contextlib.suppress(CoordinationError):
            await self.group.leave()

    async def refresh(self) -> None:
        """Read the members now (the watch does this on every change)."""
        members = await self.group.members()
        self._apply({member.id: _weight(member) for member in members})

    async def _membership(self, _member: Member) -> None:
        await self.refresh()

    def _apply(self, weights: dict[str, float], *, notify: bool = True) -> None:
        self.weights = weights
        mine = {key for key in self._keys if owner_of(key, weights) == self.member_id}
        gained, lost = mine - self._mine, self._mine - mine
        self._mine = mine
        if notify and (gained or lost) and self._on_rebalance is not None:
            try:
                result = self._on_rebalance(gained, lost)
                if inspect.isawaitable(result):
                    self.group.coordinator._spawn(result)
            except Exception:
                log.exception("partitioner of group %r: on_rebalance failed", self.group.name)

    def assign(self, keys: Iterable[str]) -> set[str]:
        """Track ``keys``; return those this member owns now."""
        self._keys = set(keys)
        self._apply(self.weights, notify=False)
        return set(self._mine)

    def owner(self, key: str) -> str | None:
        """The member that owns ``key`` (None while the group is empty)."""
        return owner_of(key, self.weights)

    def owns(self, key: str) -> bool:
        """Whether this member owns ``key``."""
        return self.owner(key) == self.member_id

    @property
    def mine(self) -> set[str]:
        """The tracked keys this member owns."""
        return set(self._mine)
