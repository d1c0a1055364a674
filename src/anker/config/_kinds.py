"""The kinds of option value: how a value written as text (or given natively, by TOML or a
default) becomes a typed value, what an option expects, and how a value is written back.

:mod:`anker.config._types` picks the kind for an annotation; the kinds of numbers with units
are in :mod:`._units`, those of network addresses in :mod:`._network`.
"""

from __future__ import annotations

import math

from anker._secret import Secret
from anker._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "BadValue",
    "BoolKind",
    "ChoiceKind",
    "DictKind",
    "FloatKind",
    "IntKind",
    "Kind",
    "ListKind",
    "OptionalKind",
    "PathKind",
    "Port",
    "SecretKind",
    "StrKind",
    "contains",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class BadValue(ValueError):
    """A value does not fit its option; the message says what was expected."""


class Port(int):
    """A TCP/UDP port number, 0 to 65535."""

    __slots__ = ()


class Kind:
    """How one option type converts, checks and writes its values."""

    __slots__ = ()
    #: JSON Schema type of the written form.
    json_type = "string"
    #: Whether an empty text is a value of this kind ("" for strings) rather than unset.
    accepts_empty = False

    def describe(self) -> str:
        raise NotImplementedError

    def convert(self, raw: object) -> object:
        """A typed value from text or a native value; raises BadValue."""
        raise NotImplementedError

    def to_text(self, value: object) -> str:
        """The value written as a config file would hold it."""
        return str(value)

    def to_native(self, value: object) -> object:
        """The value as TOML or JSON would hold it."""
        return self.to_text(value)

    def json_schema(self) -> dict[str, object]:
        return {"type": self.json_type}

    def fail(self, raw: object) -> BadValue:
        return BadValue(f"expected {self.describe()}, got {raw!r}")


def bounds(low: float | None, high: float | None, show: Callable[[Any], str] = str) -> str:
    if low is not None and high is not None:
        return f" from {show(low)} to {show(high)}"
    if low is not None:
        return f" of at least {show(low)}"
    if high is not None:
        return f" of at most {show(high)}"
    return ""


def check_bounds(kind: Kind, value: Any, low: Any, high: Any, raw: object) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        raise kind.fail(raw)


class StrKind(Kind):
    __slots__ = ("choices", "max_length", "pattern")
    accepts_empty = True

    def __init__(
        self, choices: tuple[str, ...] | None, regex: str | None, max_length: int | None
    ) -> None:
        self.choices = choices
        self.max_length = max_length
        self.pattern = None
        if regex is not None:
            import re

            self.pattern = re.compile(regex)

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        text = "a string"
        if self.pattern is not None:
            text += f" matching {self.pattern.pattern!r}"
        if self.max_length is not None:
            text += f" of at most {self.max_length} characters"
        return text

    def convert(self, raw: object) -> object:
        if not isinstance(raw, str):
            raise self.fail(raw)
        if self.choices is not None and raw not in self.choices:
            raise self.fail(raw)
        if self.pattern is not None and not self.pattern.fullmatch(raw):
            raise self.fail(raw)
        if self.max_length is not None and len(raw) > self.max_length:
            raise self.fail(raw)
        return raw

    def json_schema(self) -> dict[str, object]:
        schema: dict[str, object] = {"type": "string"}
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.pattern is not None:
            schema["pattern"] = f"^(?:{self.pattern.pattern})$"
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        return schema


class IntKind(Kind):
    __slots__ = ("choices", "cls", "high", "low")
    json_type = "integer"

    def __init__(
        self,
        low: int | None,
        high: int | None,
        cls: type[int] = int,
        choices: tuple[int, ...] | None = None,
    ) -> None:
        self.low, self.high, self.cls, self.choices = low, high, cls, choices

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        name = "a port number" if self.cls is Port else "an integer"
        return name + bounds(self.low, self.high)

    def convert(self, raw: object) -> object:
        if isinstance(raw, bool):
            raise self.fail(raw)
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, str):
            try:
                value = int(raw.strip())
            except ValueError:
                raise self.fail(raw) from None
        else:
            raise self.fail(raw)
        check_bounds(self, value, self.low, self.high, raw)
        if self.choices is not None and value not in self.choices:
            raise self.fail(raw)
        return self.cls(value)

    def to_native(self, value: object) -> object:
        return int(value)  # type: ignore[call-overload]

    def json_schema(self) -> dict[str, object]:
        schema: dict[str, object] = {"type": "integer"}
        if self.low is not None:
            schema["minimum"] = self.low
        if self.high is not None:
            schema["maximum"] = self.high
        if self.choices:
            schema["enum"] = list(self.choices)
        return schema


class FloatKind(Kind):
    __slots__ = ("high", "low")
    json_type = "number"

    def __init__(self, low: float | None, high: float | None) -> None:
        self.low, self.high = low, high

    def describe(self) -> str:
        return "a number" + bounds(self.low, self.high)

    def convert(self, raw: object) -> object:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise self.fail(raw)
        try:
            value = float(raw)
        except (ValueError, OverflowError):
            raise self.fail(raw) from None
        if not math.isfinite(value):  # nan compares with nothing; inf is never meant
            raise self.fail(raw)
        check_bounds(self, value, self.low, self.high, raw)
        return value

    def to_native(self, value: object) -> object:
        return value

    def json_schema(self) -> dict[str, object]:
        schema: dict[str, object] = {"type": "number"}
        if self.low is not None:
            schema["minimum"] = self.low
        if self.high is not None:
            schema["maximum"] = self.high
        return schema


class BoolKind(Kind):
    __slots__ = ()
    json_type = "boolean"

    def describe(self) -> str:
        return "a boolean (true/false, yes/no, on/off, 1/0)"

    def convert(self, raw: object) -> object:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            word = raw.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        raise self.fail(raw)

    def to_text(self, value: object) -> str:
        return "true" if value else "false"

    def to_native(self, value: object) -> object:
        return bool(value)


class ListKind(Kind):
    """Comma-separated in text (``a, b, c``; a trailing comma adds nothing); a list natively."""

    __slots__ = ("item",)
    json_type = "array"

    def __init__(self, item: Kind) -> None:
        self.item = item

    def describe(self) -> str:
        return f"a comma-separated list, each {self.item.describe()}"

    def convert(self, raw: object) -> object:
        if isinstance(raw, str):
            text = raw.strip()
            items: list[object] = [part.strip() for part in text.split(",")] if text else []
            if items and items[-1] == "":  # a trailing comma adds nothing, as in oslo.config
                items.pop()
        elif isinstance(raw, list | tuple):
            items = list(raw)
        else:
            raise self.fail(raw)
        try:
            return [self.item.convert(item) for item in items]
        except BadValue as exc:
            raise BadValue(f"in {raw!r}: {exc}") from None

    def to_text(self, value: object) -> str:
        return ",".join(self.item.to_text(item) for item in value)  # type: ignore[attr-defined]

    def to_native(self, value: object) -> object:
        return [self.item.to_native(item) for item in value]  # type: ignore[attr-defined]

    def json_schema(self) -> dict[str, object]:
        return {"type": "array", "items": self.item.json_schema()}


class DictKind(Kind):
    """``key:value`` pairs separated by commas in text (as oslo.config's Dict); a table natively."""

    __slots__ = ("value",)
    json_type = "object"

    def __init__(self, value: Kind) -> None:
        self.value = value

    def describe(self) -> str:
        return f"key:value pairs separated by commas, each value {self.value.describe()}"

    def convert(self, raw: object) -> object:
        pairs: list[tuple[object, object]]
        if isinstance(raw, str):
            pairs = []
            for part in (p.strip() for p in raw.split(",")):
                if not part:
                    continue
                key, sep, value = part.partition(":")
                if not sep or not key.strip():
                    raise BadValue(f"expected key:value in {part!r} of {raw!r}")
                pairs.append((key.strip(), value.strip()))
        elif isinstance(raw, dict):
            pairs = list(raw.items())
        else:
            raise self.fail(raw)
        try:
            return {str(key): self.value.convert(value) for key, value in pairs}
        except BadValue as exc:
            raise BadValue(f"in {raw!r}: {exc}") from None

    def to_text(self, value: object) -> str:
        items = value.items()  # type: ignore[attr-defined]
        return ",".join(f"{key}:{self.value.to_text(item)}" for key, item in items)

    def to_native(self, value: object) -> object:
        items = value.items()  # type: ignore[attr-defined]
        return {key: self.value.to_native(item) for key, item in items}

    def json_schema(self) -> dict[str, object]:
        return {"type": "object", "additionalProperties": self.value.json_schema()}


class ChoiceKind(Kind):
    """An enum (by value or by name) or a ``Literal[...]``."""

    __slots__ = ("by_text", "names")

    def __init__(self, by_text: dict[str, object], names: tuple[str, ...]) -> None:
        self.by_text = by_text
        self.names = names

    def describe(self) -> str:
        return "one of " + ", ".join(repr(name) for name in self.names)

    def convert(self, raw: object) -> object:
        if not isinstance(raw, str) and raw in self.by_text.values():
            return raw
        found = self.by_text.get(str(raw).strip()) if isinstance(raw, str | int) else None
        if found is None:
            raise self.fail(raw)
        return found

    def to_text(self, value: object) -> str:
        return str(getattr(value, "value", value))

    def json_schema(self) -> dict[str, object]:
        return {"enum": list(self.names)}


class PathKind(Kind):
    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def describe(self) -> str:
        return "a file system path"

    def convert(self, raw: object) -> object:
        if isinstance(raw, str) and raw.strip():
            return self.cls(raw.strip())
        if isinstance(raw, self.cls):
            return raw
        raise self.fail(raw)


class SecretKind(Kind):
    """Any kind, held as :class:`~anker.Secret`; errors never show the value."""

    __slots__ = ("accepts_empty", "inner")

    def __init__(self, inner: Kind) -> None:
        self.inner = inner
        self.accepts_empty = inner.accepts_empty

    def describe(self) -> str:
        return self.inner.describe()

    def convert(self, raw: object) -> object:
        if isinstance(raw, Secret):
            raw = raw.reveal()
        try:
            return Secret(self.inner.convert(raw))
        except BadValue:
            raise BadValue(f"expected {self.inner.describe()}, got '****'") from None

    def to_text(self, value: object) -> str:
        return "****"

    def json_schema(self) -> dict[str, object]:
        return {**self.inner.json_schema(), "writeOnly": True}


class OptionalKind(Kind):
    """Any kind, or unset: ``None``. An empty value in a file means unset, except for
    strings, where it is ``""`` (as oslo.config reads it)."""

    __slots__ = ("inner",)

    def __init__(self, inner: Kind) -> None:
        self.inner = inner

    def describe(self) -> str:
        return f"{self.inner.describe()}, or empty"

    def convert(self, raw: object) -> object:
        if raw is None:
            return None
        if isinstance(raw, str) and not raw.strip() and not self.inner.accepts_empty:
            return None
        return self.inner.convert(raw)

    def to_text(self, value: object) -> str:
        return "" if value is None else self.inner.to_text(value)

    def to_native(self, value: object) -> object:
        return None if value is None else self.inner.to_native(value)

    def json_schema(self) -> dict[str, object]:
        return {"anyOf": [self.inner.json_schema(), {"type": "null"}]}


def contains(kind: Kind, wanted: type[Kind]) -> bool:
    """Whether ``kind`` is, or wraps (in a list, dict, optional or secret), a ``wanted``."""
    if isinstance(kind, wanted):
        return True
    inner = (
        getattr(kind, "inner", None) or getattr(kind, "item", None) or getattr(kind, "value", None)
    )
    return isinstance(inner, Kind) and contains(inner, wanted)
