"""Names of locks, groups and members: one rule that every backend can hold."""

from __future__ import annotations

import re

from anker.coordination._errors import InvalidName

__all__ = ["MAX_NAME", "check_name"]

MAX_NAME = 128
# Letters, digits and a few separators: safe as a ZooKeeper node, an etcd key, a Redis key and
# a SQL string alike, and never '/' (which would nest namespaces) or '.'/'..' alone.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@+=-]*")


def check_name(what: str, name: object) -> str:
    """Return ``name`` if it is a valid name of a ``what``; raise :class:`InvalidName` if not."""
    if not isinstance(name, str):
        raise InvalidName(what, name, f"expected a string, got {type(name).__name__}")
    if not name:
        raise InvalidName(what, name, "it is empty")
    if len(name) > MAX_NAME:
        raise InvalidName(what, name, f"it is {len(name)} characters long; at most {MAX_NAME}")
    if _NAME.fullmatch(name) is None:
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "_.:@+=-"))})
        detail = (
            f"characters {''.join(bad)!r} are not allowed" if bad else f"it starts with {name[0]!r}"
        )
        raise InvalidName(
            what,
            name,
            f"{detail}; use letters, digits and _ . : @ + = - (starting with a letter, digit or _)",
        )
    return name
