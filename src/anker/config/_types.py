"""Option types: the kind of value an option takes, from its annotation.

The type of an option is its annotation (``int``, ``list[str]``, ``timedelta``,
``Secret[str] | None``, ...), narrowed by constraints given to :func:`~anker.config.option`
(``min``, ``max``, ``choices``, ``regex``, ``max_length``, ``schemes``). Modules such as
``enum``, ``pathlib`` and ``ipaddress`` are looked up in ``sys.modules`` rather than imported:
an annotation can only name their classes if the declaring module imported them already, and
``import anker.config`` stays light.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from types import GenericAlias, UnionType

from anker._secret import Secret
from anker._typing import TYPE_CHECKING
from anker.config._kinds import (
    BoolKind,
    ChoiceKind,
    DictKind,
    FloatKind,
    IntKind,
    Kind,
    ListKind,
    OptionalKind,
    PathKind,
    Port,
    SecretKind,
    StrKind,
)
from anker.config._network import HostAddress, HostKind, IPKind, URLKind
from anker.config._units import ByteSize, ByteSizeKind, DurationKind

if TYPE_CHECKING:
    from typing import Any

__all__ = ["kind_for"]


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
