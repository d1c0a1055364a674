"""Option types: how a value written as text (or given natively, by TOML or a default) becomes
a typed value, what the option expects, and how a value is written back in samples.

The type of an option is its annotation (``int``, ``list[str]``, ``timedelta``,
``Secret[str] | None``, ...), narrowed by constraints given to :func:`~anker.config.option`
(``min``, ``max``, ``choices``, ``regex``, ``max_length``, ``schemes``). Modules such as
``enum``, ``pathlib`` and ``ipaddress`` are looked up in ``sys.modules`` rather than imported:
an annotation can only name their classes if the declaring module imported them already, and
``import anker.config`` stays light.
"""

from __future__ import annotations

import math
import sys
from datetime import timedelta
from types import GenericAlias, UnionType

from anker._secret import Secret
from anker._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["BadValue", "ByteSize", "HostAddress", "Kind", "Port", "kind_for"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class BadValue(ValueError):
    """A value does not fit its option; the message says what was expected."""


class Port(int):
    """A TCP/UDP port number, 0 to 65535."""

    __slots__ = ()
    __module__ = "anker.config"


class ByteSize(int):
    """A size in bytes, written with a unit: ``512``, ``64KiB``, ``10MB``, ``1.5GiB``."""

    __slots__ = ()
    __module__ = "anker.config"

    def __str__(self) -> str:
        return format_bytes(int(self))


class HostAddress(str):
    """A host name (RFC 1123) or an IPv4/IPv6 address."""

    __slots__ = ()
    __module__ = "anker.config"


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


def _bounds(low: float | None, high: float | None, show: Callable[[Any], str] = str) -> str:
    if low is not None and high is not None:
        return f" from {show(low)} to {show(high)}"
    if low is not None:
        return f" of at least {show(low)}"
    if high is not None:
        return f" of at most {show(high)}"
    return ""


def _check_bounds(kind: Kind, value: Any, low: Any, high: Any, raw: object) -> None:
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
        return name + _bounds(self.low, self.high)

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
        _check_bounds(self, value, self.low, self.high, raw)
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
        return "a number" + _bounds(self.low, self.high)

    def convert(self, raw: object) -> object:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise self.fail(raw)
        try:
            value = float(raw)
        except ValueError:
            raise self.fail(raw) from None
        if math.isnan(value):
            raise self.fail(raw)
        _check_bounds(self, value, self.low, self.high, raw)
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
    """Comma-separated in text (``a, b, c``); a list natively."""

    __slots__ = ("item",)
    json_type = "array"

    def __init__(self, item: Kind) -> None:
        self.item = item

    def describe(self) -> str:
        return f"a comma-separated list, each {self.item.describe()}"

    def convert(self, raw: object) -> object:
        if isinstance(raw, str):
            text = raw.strip()
            if text.startswith("[") and text.endswith("]"):  # oslo.config accepts [a, b]
                text = text[1:-1]
            items: list[object] = [part.strip() for part in text.split(",")] if text.strip() else []
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


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class DurationKind(Kind):
    """``30`` (seconds), ``30s``, ``250ms``, ``5m``, ``1h30m``, ``2d``; a ``timedelta``."""

    __slots__ = ("high", "low")

    def __init__(self, low: object, high: object) -> None:
        self.low = None if low is None else _as_timedelta(low)
        self.high = None if high is None else _as_timedelta(high)

    def describe(self) -> str:
        return "a duration such as 30s, 5m or 1h30m" + _bounds(self.low, self.high, format_duration)  # type: ignore[arg-type]

    def convert(self, raw: object) -> object:
        try:
            value = _as_timedelta(raw)
        except BadValue:
            raise self.fail(raw) from None
        if value < timedelta(0):
            raise self.fail(raw)
        _check_bounds(self, value, self.low, self.high, raw)
        return value

    def to_text(self, value: object) -> str:
        return format_duration(value)  # type: ignore[arg-type]


def _as_timedelta(raw: object) -> timedelta:
    if isinstance(raw, timedelta):
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise BadValue(raw)
    seconds = _duration_seconds(raw) if isinstance(raw, str) else float(raw)
    if not math.isfinite(seconds):
        raise BadValue(raw)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise BadValue(raw) from None


def _duration_seconds(raw: str) -> float:
    """Seconds in ``90``, ``1.5``, ``250ms``, ``1h30m``, ``2d``: numbers each with a unit."""
    text = raw.strip().lower().replace(" ", "")
    try:
        return float(text)
    except ValueError:
        pass
    total, number, index = 0.0, "", 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        if unit not in _DURATION_UNITS or not number or number.count(".") > 1:
            raise BadValue(raw)
        total += float(number) * _DURATION_UNITS[unit]
        number = ""
        index += len(unit)
    if number or not text:
        raise BadValue(raw)
    return total


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"


_BYTE_UNITS = {"": 1, "b": 1}
for _power, _letter in enumerate("kmgtp", start=1):
    _BYTE_UNITS[_letter] = _BYTE_UNITS[_letter + "b"] = 1000**_power
    _BYTE_UNITS[_letter + "i"] = _BYTE_UNITS[_letter + "ib"] = 1024**_power


class ByteSizeKind(Kind):
    __slots__ = ("high", "low")

    def __init__(self, low: object, high: object) -> None:
        self.low = None if low is None else _as_bytes(low)
        self.high = None if high is None else _as_bytes(high)

    def describe(self) -> str:
        return "a size such as 512, 64KiB or 10MB" + _bounds(self.low, self.high, format_bytes)

    def convert(self, raw: object) -> object:
        try:
            value = _as_bytes(raw)
        except BadValue:
            raise self.fail(raw) from None
        _check_bounds(self, value, self.low, self.high, raw)
        return ByteSize(value)

    def to_text(self, value: object) -> str:
        return format_bytes(int(value))  # type: ignore[call-overload]

    def to_native(self, value: object) -> object:
        return self.to_text(value)


def _as_bytes(raw: object) -> int:
    if isinstance(raw, bool):
        raise BadValue(raw)
    if isinstance(raw, int):
        if raw < 0:
            raise BadValue(raw)
        return raw
    if not isinstance(raw, str):
        raise BadValue(raw)
    text = raw.strip().lower().replace(" ", "")
    split = len(text)
    while split and not (text[split - 1].isdigit() or text[split - 1] == "."):
        split -= 1
    number, unit = text[:split], text[split:]
    if unit not in _BYTE_UNITS or not number:
        raise BadValue(raw)
    try:
        value = float(number) * _BYTE_UNITS[unit]
    except ValueError:
        raise BadValue(raw) from None
    if not math.isfinite(value) or value != int(value):
        raise BadValue(raw)
    return int(value)


def format_bytes(value: int) -> str:
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


class HostKind(Kind):
    __slots__ = ()

    def describe(self) -> str:
        return "a host name or IP address"

    def convert(self, raw: object) -> object:
        if not isinstance(raw, str):
            raise self.fail(raw)
        text = raw.strip()
        if _is_ip(text) or _is_hostname(text):
            return HostAddress(text)
        raise self.fail(raw)


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_hostname(text: str) -> bool:
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253:
        return False
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
    for label in name.split("."):
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not set(label.lower()) <= allowed:
            return False
    return True


class IPKind(Kind):
    __slots__ = ("versions",)

    def __init__(self, versions: tuple[int, ...]) -> None:
        self.versions = versions

    def describe(self) -> str:
        names = " or ".join(f"IPv{v}" for v in self.versions)
        return f"an {names} address"

    def convert(self, raw: object) -> object:
        import ipaddress

        if isinstance(raw, ipaddress.IPv4Address | ipaddress.IPv6Address):
            address = raw
        elif isinstance(raw, str):
            try:
                address = ipaddress.ip_address(raw.strip())
            except ValueError:
                raise self.fail(raw) from None
        else:
            raise self.fail(raw)
        if address.version not in self.versions:
            raise self.fail(raw)
        return address


class URLKind(Kind):
    __slots__ = ("schemes",)

    def __init__(self, schemes: tuple[str, ...] | None) -> None:
        self.schemes = schemes

    def describe(self) -> str:
        if self.schemes:
            return "a URL with scheme " + " or ".join(f"'{s}://'" for s in self.schemes)
        return "a URL (scheme://...)"

    def convert(self, raw: object) -> object:
        from anker._url import BackendURL, parse_url
        from anker.errors import InvalidURL

        if isinstance(raw, BackendURL):
            url = raw
        elif isinstance(raw, str):
            try:
                url = parse_url(raw.strip())
            except InvalidURL as exc:
                raise BadValue(f"expected {self.describe()}: {exc.reason}") from None
        else:
            raise self.fail(raw)
        if self.schemes and url.scheme not in self.schemes:
            raise BadValue(f"expected {self.describe()}, got '{url.scheme}://'")
        return url

    def to_text(self, value: object) -> str:
        return value.render(mask=True)  # type: ignore[attr-defined, no-any-return]


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


CONSTRAINTS = ("choices", "regex", "max_length", "min", "max", "schemes")


def kind_for(annotation: object, constraints: dict[str, Any]) -> Kind:
    """The Kind for an option's annotation; raises TypeError for what cannot be an option."""
    used: set[str] = set()
    kind = _kind_for(annotation, constraints, used)
    if unused := sorted(
        name for name, value in constraints.items() if value is not None and name not in used
    ):
        raise TypeError(
            f"{', '.join(unused)} does not apply to an option of type {_name(annotation)}"
        )
    return kind


def _kind_for(tp: object, c: dict[str, Any], used: set[str]) -> Kind:  # noqa: PLR0911, PLR0912
    args: tuple[Any, ...] = getattr(tp, "__args__", ())
    if _is_union(tp):
        members = [arg for arg in args if arg is not type(None)]
        if len(members) < len(args):
            inner = members[0] if len(members) == 1 else _union_of(members)
            return OptionalKind(_kind_for(inner, c, used))
        return _kind_for(_union_of(members), c, used)
    origin = getattr(tp, "__origin__", None)
    if origin is Secret:
        return SecretKind(_kind_for(args[0] if args else str, c, used))
    if isinstance(tp, GenericAlias) and origin in (list, tuple) and args:
        return ListKind(_kind_for(args[0], c, used))
    if isinstance(tp, GenericAlias) and origin is dict and len(args) == 2:
        if args[0] is not str:
            raise TypeError(f"dict options need str keys, not {_name(args[0])}")
        return DictKind(_kind_for(args[1], c, used))
    typing = sys.modules.get("typing")
    if typing is not None and origin is typing.Literal:
        used.add("choices")
        return ChoiceKind({str(a): a for a in args}, tuple(str(a) for a in args))
    if tp is bool:
        return BoolKind()
    if tp is Port:
        used.update(("choices",))
        return IntKind(0, 65535, Port, _tuple(c.get("choices")))
    if tp is int:
        used.update(("min", "max", "choices"))
        return IntKind(c.get("min"), c.get("max"), int, _tuple(c.get("choices")))
    if tp is float:
        used.update(("min", "max"))
        return FloatKind(c.get("min"), c.get("max"))
    if tp is str:
        used.update(("choices", "regex", "max_length"))
        return StrKind(_tuple(c.get("choices")), c.get("regex"), c.get("max_length"))
    if tp is timedelta:
        used.update(("min", "max"))
        return DurationKind(c.get("min"), c.get("max"))
    if tp is ByteSize:
        used.update(("min", "max"))
        return ByteSizeKind(c.get("min"), c.get("max"))
    if tp is HostAddress:
        return HostKind()
    enum = sys.modules.get("enum")
    if enum is not None and isinstance(tp, type) and issubclass(tp, enum.Enum):
        enum_members: list[Any] = list(tp)  # type: ignore[call-overload]
        by_text = {str(m.value): m for m in enum_members} | {m.name: m for m in enum_members}
        return ChoiceKind(by_text, tuple(str(m.value) for m in enum_members))
    pathlib = sys.modules.get("pathlib")
    if pathlib is not None and isinstance(tp, type) and issubclass(tp, pathlib.PurePath):
        return PathKind(tp)
    ipaddress = sys.modules.get("ipaddress")
    if ipaddress is not None and tp in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        return IPKind((4,) if tp is ipaddress.IPv4Address else (6,))
    if tp is _IPUnion:
        return IPKind((4, 6))
    url_module = sys.modules.get("anker._url")
    if url_module is not None and tp is url_module.BackendURL:
        used.add("schemes")
        return URLKind(_tuple(c.get("schemes")))
    raise TypeError(f"{_name(tp)} cannot be the type of an option")


class _IPUnion:
    """Marker for ``IPv4Address | IPv6Address`` while building kinds."""


def _union_of(members: list[object]) -> object:
    ipaddress = sys.modules.get("ipaddress")
    if ipaddress is not None and set(members) == {ipaddress.IPv4Address, ipaddress.IPv6Address}:
        return _IPUnion
    raise TypeError(f"a union of {', '.join(_name(m) for m in members)} cannot be an option type")


def _is_union(tp: object) -> bool:
    if isinstance(tp, UnionType):
        return True
    typing = sys.modules.get("typing")
    return typing is not None and getattr(tp, "__origin__", None) is typing.Union


def _tuple(value: Any) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


def _name(tp: object) -> str:
    return getattr(tp, "__qualname__", None) or repr(tp)
