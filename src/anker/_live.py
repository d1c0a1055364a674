"""The anker parts this process has open, so that health checks find them without being told.

Every driver :func:`~anker._drivers.open_driver` connects is tracked here until its
``aclose()``, and every SQL engine :mod:`anker.db` creates until it is garbage collected.
Parts are held by weak reference: tracking never keeps a part alive. A generation number
changes whenever the set changes, so a reader (the health registry, on every request) checks
one integer instead of the whole set.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from dataclasses import dataclass

__all__ = ["LivePart", "forget", "generation", "live_parts", "track"]


@dataclass(frozen=True, slots=True)
class LivePart:
    """A part that is open: the object, and the subsystem it belongs to ("coordination")."""

    part: object
    subsystem: str


class _Parts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: id(part) -> (weak reference, subsystem), in the order the parts were opened
        self.entries: dict[int, tuple[weakref.ref[object], str]] = {}
        self.counter = itertools.count(1)
        self.generation = 0

    def changed(self) -> None:
        self.generation = next(self.counter)  # one step of a C iterator: atomic


_parts = _Parts()


def track(part: object, subsystem: str) -> None:
    """Note that ``part`` (of ``subsystem``) is open."""

    def gone(_: weakref.ref[object]) -> None:
        # Called by the garbage collector, which may run inside any allocation, also while
        # this thread holds the lock: take no lock here; the dead entry is swept by track()
        # and skipped by live_parts() meanwhile.
        _parts.changed()

    with _parts.lock:
        for key in [k for k, (reference, _) in _parts.entries.items() if reference() is None]:
            del _parts.entries[key]
        _parts.entries[id(part)] = (weakref.ref(part, gone), subsystem)
        _parts.changed()


def forget(part: object) -> None:
    """Note that ``part`` is closed (nothing happens if it was never tracked)."""
    with _parts.lock:
        entry = _parts.entries.get(id(part))
        if entry is not None and entry[0]() is part:
            del _parts.entries[id(part)]
            _parts.changed()


def live_parts() -> list[LivePart]:
    """The parts open now, oldest first."""
    with _parts.lock:
        entries = list(_parts.entries.values())
    found = []
    for reference, subsystem in entries:
        part = reference()
        if part is not None:
            found.append(LivePart(part, subsystem))
    return found


def generation() -> int:
    """A number that changes whenever a part is tracked or forgotten."""
    return _parts.generation
