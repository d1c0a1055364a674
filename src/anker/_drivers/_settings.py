"""A driver's settings: typed options from its URL's query and from keyword arguments.

A driver declares its options as a frozen dataclass, one field per option, with the types
``anker.config`` already reads (``bool``, ``int``, ``str``, ``Literal[...]``, ``Path``,
``ByteSize``, ``Secret[str]``, ``X | None``) plus :class:`Seconds`::

    @dataclass(frozen=True)
    class Settings(CoordinationSettings):
        key_prefix: str = setting("anker:coord:", help="prefix of every key")
        poll: Seconds = setting(Seconds(0.02), min=0.001)

so ``?timeout=5s``, ``?timeout=5`` and ``timeout=5.0`` mean the same thing for every driver, and
``?durable=yes`` and ``durable=True`` too. An unknown option is an
:class:`~anker.errors.InvalidOption` with the nearest known name; so is a value that does not fit
(secret values are never shown), and an option given in the URL and as a keyword with two
different values.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal, TypeVar, cast

from anker._secret import Secret
from anker.config._kinds import BadValue, Kind, OptionalKind
from anker.config._types import kind_for
from anker.config._units import ByteSize, DurationKind
from anker.errors import InvalidOption

if typing.TYPE_CHECKING:
    from anker._url import BackendURL

__all__ = ["DriverSettings", "Seconds", "option_names", "parse_settings", "setting"]

S = TypeVar("S", bound="DriverSettings")
T = TypeVar("T")


class Seconds(float):
    """A duration in seconds: ``5``, ``5.0``, ``"5s"``, ``"250ms"``, ``"1m"`` or a ``timedelta``."""

    __slots__ = ()


@dataclasses.dataclass(frozen=True)
class DriverSettings:
    """The options of a driver; each subsystem and each driver adds its own fields.

    Every field has a default. Its type is resolved with :func:`typing.get_type_hints`, so a
    module declaring settings imports the types it names at run time (``Seconds``, ``Secret``,
    ``ByteSize`` and ``Literal`` are found in any case).
    """


def setting(
    default: T,
    *,
    help: str = "",
    min: object = None,
    max: object = None,
    choices: Iterable[object] | None = None,
) -> T:
    """Declare an option with a default, a help text and constraints (``min``/``max`` for
    numbers and durations, ``choices``); a plain default works as well."""
    constraints = {"min": min, "max": max, "choices": None if choices is None else tuple(choices)}
    metadata = {
        "help": help,
        "constraints": {k: v for k, v in constraints.items() if v is not None},
    }
    return dataclasses.field(default=default, metadata=metadata)


class _SecondsKind(DurationKind):
    """A duration, as float seconds."""

    __slots__ = ()

    def convert(self, raw: object) -> object:
        value = super().convert(raw)
        return Seconds(cast("timedelta", value).total_seconds())


def _kind(annotation: object, constraints: dict[str, Any]) -> Kind:
    if annotation is Seconds:
        return _SecondsKind(constraints.get("min"), constraints.get("max"))
    args = typing.get_args(annotation)
    if Seconds in args and type(None) in args and len(args) == 2:
        return OptionalKind(_SecondsKind(constraints.get("min"), constraints.get("max")))
    return kind_for(annotation, constraints)


@dataclasses.dataclass(frozen=True, slots=True)
class _Option:
    name: str
    kind: Kind
    help: str


_OPTIONS: dict[type[DriverSettings], dict[str, _Option]] = {}


def _options(cls: type[DriverSettings]) -> dict[str, _Option]:
    if (known := _OPTIONS.get(cls)) is not None:
        return known
    # the kit's own types resolve even where a linter moved their import under TYPE_CHECKING
    names = {"Seconds": Seconds, "Secret": Secret, "ByteSize": ByteSize, "Literal": Literal}
    hints = typing.get_type_hints(cls, localns=names)
    found: dict[str, _Option] = {}
    for field in dataclasses.fields(cls):
        try:
            kind = _kind(hints[field.name], dict(field.metadata.get("constraints", {})))
        except TypeError as exc:
            raise TypeError(f"{cls.__qualname__}.{field.name}: {exc}") from None
        found[field.name] = _Option(field.name, kind, str(field.metadata.get("help", "")))
    _OPTIONS[cls] = found
    return found


def option_names(cls: type[DriverSettings]) -> frozenset[str]:
    """The names of the options a settings class declares."""
    return frozenset(_options(cls))


def parse_settings(
    cls: type[S], url: BackendURL | None, overrides: Mapping[str, object], *, where: str
) -> S:
    """Settings from ``url``'s query and ``overrides`` (keyword arguments), converted to their
    declared types. ``where`` names the driver in errors (``the 'redis://' coordination
    backend``). An option may be given in both places only with the same value."""
    options = _options(cls)
    query = url.query if url is not None else {}
    values: dict[str, object] = {}
    for name, given in [*((n, v[-1]) for n, v in query.items()), *overrides.items()]:
        option = options.get(name)
        if option is None:
            close = difflib.get_close_matches(name, options, n=1)
            known = ", ".join(sorted(options)) or "none"
            raise InvalidOption(
                name,
                where,
                f"unknown option (known: {known})",
                suggestion=close[0] if close else None,
            )
        value = _convert(option, given, where)
        if name in values and not _same(values[name], value):
            raise InvalidOption(
                name, where, "given twice (in the URL and as a keyword) with different values"
            )
        values[name] = value
    for name, repeated in query.items():
        if len({_shown(_convert(options[name], v, where)) for v in repeated}) > 1:
            raise InvalidOption(name, where, "given more than once in the URL")
    return cls(**values)


def _convert(option: _Option, raw: object, where: str) -> object:
    try:
        return option.kind.convert(raw)
    except BadValue as exc:  # its text never shows a secret's value (SecretKind masks it)
        raise InvalidOption(option.name, where, str(exc)) from None


def _shown(value: object) -> object:
    return value.reveal() if isinstance(value, Secret) else value


def _same(one: object, other: object) -> bool:
    return bool(_shown(one) == _shown(other))
