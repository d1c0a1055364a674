"""A value that never shows itself by accident."""

from __future__ import annotations

from hmac import compare_digest
from types import GenericAlias

from anker._typing import TYPE_CHECKING, Generic, TypeVar

T = TypeVar("T")

__all__ = ["Secret"]

MASK = "****"


class Secret(Generic[T]):
    """Holds a sensitive value; ``repr``, ``str`` and formatting show ``****``.

    Call :meth:`reveal` at the one place that needs the value (for example when opening a
    connection). Equality is constant-time for ``str`` and ``bytes``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_value",)
    if not TYPE_CHECKING:
        __class_getitem__ = classmethod(GenericAlias)

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        """Return the secret value itself."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return format(MASK, format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        mine, theirs = self._value, other._value
        if isinstance(mine, str) and isinstance(theirs, str):
            return compare_digest(mine.encode(), theirs.encode())
        if isinstance(mine, bytes) and isinstance(theirs, bytes):
            return compare_digest(mine, theirs)
        return bool(mine == theirs)

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)
