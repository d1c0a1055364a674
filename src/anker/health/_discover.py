"""Checks of the parts this process has open (anker._live), made as the parts appear.

A service that opens a coordinator, a transport, a key manager, a quota store or a SQL engine
gets its health check without registering it: the registry asks here, on each request, for
one check per open part that no check of its own watches already. Checks hold their part by
weak reference, so a registry never keeps a dropped part (or its connections) alive.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

from anker import _live
from anker.health._builtin import probe_result, select_result
from anker.health._check import Check, ComponentType, Result

__all__ = ["Discovery"]

#: how a subsystem's parts are named in health+json ("database:responseTime")
_NAMES = {"db": "database"}
#: what is not a datastore: a broker is a component
_TYPES: dict[str, ComponentType] = {"messaging": "component"}


class Discovery:
    """One registry's checks of the open parts; :meth:`refresh` follows anker._live."""

    def __init__(self) -> None:
        self._generation = -1
        #: id(part) -> its check, kept while the part is open so its name stays the same
        self._by_part: dict[int, tuple[weakref.ref[object], Check]] = {}

    def stale(self) -> bool:
        """Whether parts were opened or closed since the last :meth:`refresh`."""
        return self._generation != _live.generation()

    def invalidate(self) -> None:
        """Make the next :meth:`stale` true (the registry's own checks changed)."""
        self._generation = -1

    def refresh(self, watched: set[int], taken: Iterable[str]) -> dict[str, Check]:
        """The checks of the open parts that are not in ``watched`` (ids of parts the
        registry's own checks watch), named apart from the names in ``taken``."""
        self._generation = _live.generation()
        used = set(taken)
        kept: dict[int, tuple[weakref.ref[object], Check]] = {}
        new = []
        for live in _live.live_parts():
            key = id(live.part)
            if key in watched:
                continue
            known = self._by_part.get(key)
            if known is not None and known[0]() is live.part and known[1].name not in used:
                kept[key] = known
                used.add(known[1].name)
            else:
                new.append(live)
        for live in new:
            name = _free_name(_NAMES.get(live.subsystem, live.subsystem), used)
            used.add(name)
            kept[id(live.part)] = (weakref.ref(live.part), _check(live, name))
        self._by_part = kept
        return {check.name: check for _, check in kept.values()}


def _free_name(base: str, used: set[str]) -> str:
    name, number = f"{base}:responseTime", 1
    while name in used:
        number += 1
        name = f"{base}-{number}:responseTime"
    return name


def _check(live: _live.LivePart, name: str) -> Check:
    part = weakref.ref(live.part)
    engine = live.subsystem == "db"

    async def probe() -> Result | None:
        found = part()
        if found is None:
            return None  # collected since: the registry drops the check at its next look
        return await (select_result(found) if engine else probe_result(found))  # type: ignore[arg-type]

    return Check(name, probe, _TYPES.get(live.subsystem, "datastore"), frozenset({"ready"}))
