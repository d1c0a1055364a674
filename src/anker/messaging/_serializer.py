"""Turning call arguments, results and payloads into JSON values, and back.

Two serializers ship:

- :class:`JsonSerializer`, the default, is what OpenStack peers expect: values go out as
  plain JSON (datetimes as ISO 8601 strings, UUIDs as strings, sets as lists, UTF-8 bytes as
  strings) and come back as plain JSON. One way, like oslo.messaging's default.
- :class:`RichSerializer` round-trips rich types between anker peers: datetime, date,
  UUID, bytes, set, frozenset, Decimal, tuples and any type you register. Each travels as
  ``{"__anker__": "<type>", "v": <value>}``.

A serializer is anything with ``serialize`` and ``deserialize`` (:class:`Serializer`).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from anker.messaging._errors import SerializationError

__all__ = ["JsonSerializer", "RichSerializer", "Serializer"]

TAG = "__anker__"


@runtime_checkable
class Serializer(Protocol):
    """Converts values to what JSON can carry (``serialize``) and back (``deserialize``).

    .. versionadded:: 0.1
    """

    def serialize(self, value: Any) -> Any:
        """``value`` as JSON-encodable data (or data the wire encoder handles)."""
        ...

    def deserialize(self, value: Any) -> Any:
        """The value that ``serialize`` turned into ``value``."""
        ...


class JsonSerializer:
    """Plain JSON, as OpenStack services send it.

    ``serialize`` leaves values to the wire encoder, which writes datetimes, UUIDs and
    dataclasses natively and sets, frozensets and UTF-8 bytes as lists and strings; anything
    else is a :class:`SerializationError` at the call.

    .. versionadded:: 0.1
    """

    def serialize(self, value: Any) -> Any:
        """The value as it is: it must already be JSON."""
        return value

    def deserialize(self, value: Any) -> Any:
        """The value as it arrived."""
        return value


_Encode = Callable[[Any], Any]
_Decode = Callable[[Any], Any]


class RichSerializer:
    """Round-trips rich Python types between anker peers.

    ::

        serializer = RichSerializer()
        serializer.register(Money, "money", lambda m: [m.amount, m.currency],
                            lambda v: Money(*v))

    A dict whose only keys are ``__anker__`` and ``v`` is taken as a tagged value, so a
    user's own dict that looks like that is escaped on the way out.

    .. versionadded:: 0.1
    """

    def __init__(self) -> None:
        self._by_type: dict[type, tuple[str, _Encode]] = {}
        self._by_tag: dict[str, _Decode] = {}
        self.register(dt.datetime, "datetime", dt.datetime.isoformat, dt.datetime.fromisoformat)
        self.register(dt.date, "date", dt.date.isoformat, dt.date.fromisoformat)
        self.register(dt.time, "time", dt.time.isoformat, dt.time.fromisoformat)
        self.register(
            dt.timedelta, "timedelta", dt.timedelta.total_seconds, lambda v: dt.timedelta(seconds=v)
        )
        self.register(uuid.UUID, "uuid", str, uuid.UUID)
        self.register(decimal.Decimal, "decimal", str, decimal.Decimal)
        self.register(
            bytes, "bytes", lambda b: base64.b64encode(b).decode("ascii"), base64.b64decode
        )
        self.register(set, "set", lambda s: [self.serialize(v) for v in s], self._set)
        self.register(frozenset, "frozenset", lambda s: [self.serialize(v) for v in s], self._fset)
        self.register(tuple, "tuple", lambda t: [self.serialize(v) for v in t], self._tuple)

    def register(self, cls: type, tag: str, encode: _Encode, decode: _Decode) -> None:
        """Carry instances of ``cls`` (exactly that class) as ``tag``.

        ``encode`` returns a JSON value for an instance and ``decode`` rebuilds it.
        """
        if tag in self._by_tag and self._by_type.get(cls, (None,))[0] != tag:
            raise ValueError(f"serializer tag {tag!r} is already registered")
        self._by_type[cls] = (tag, encode)
        self._by_tag[tag] = decode

    def serialize(self, value: Any) -> Any:
        """The value in JSON, with the types JSON lacks tagged so that :meth:`deserialize` restores
        them.
        """
        kind = type(value)
        if kind is str or kind is int or kind is float or kind is bool or value is None:
            return value
        if kind is list:
            return [self.serialize(item) for item in value]
        if kind is dict:
            out = {str(key): self.serialize(item) for key, item in value.items()}
            if set(out) == {TAG, "v"}:
                return {TAG: "dict", "v": out}  # escape a dict that looks like a tag
            return out
        entry = self._by_type.get(kind)
        if entry is None:
            raise SerializationError(
                f"a value of type {kind.__qualname__}",
                "RichSerializer has no entry for it; register() one",
            )
        tag, encode = entry
        return {TAG: tag, "v": encode(value)}

    def deserialize(self, value: Any) -> Any:
        """The value :meth:`serialize` was given, its tagged types restored."""
        if isinstance(value, list):
            return [self.deserialize(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 2 and TAG in value and "v" in value:
            tag = value[TAG]
            if tag == "dict":
                return {key: self.deserialize(item) for key, item in value["v"].items()}
            decode = self._by_tag.get(tag)
            if decode is None:
                raise SerializationError(f"a value tagged {tag!r}", "no type is registered for it")
            try:
                return decode(value["v"])
            except (TypeError, ValueError) as exc:
                raise SerializationError(f"a value tagged {tag!r}", str(exc)) from None
        return {key: self.deserialize(item) for key, item in value.items()}

    def _set(self, items: Any) -> set[Any]:
        return {self.deserialize(item) for item in items}

    def _fset(self, items: Any) -> frozenset[Any]:
        return frozenset(self.deserialize(item) for item in items)

    def _tuple(self, items: Any) -> tuple[Any, ...]:
        return tuple(self.deserialize(item) for item in items)


def serialize_kwargs(serializer: Serializer, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Serialize each argument of a call, naming the argument in an error."""
    out: dict[str, Any] = {}
    for name, value in kwargs.items():
        try:
            out[name] = serializer.serialize(value)
        except SerializationError as exc:
            raise SerializationError(f"argument {name!r}", str(exc)) from None
    return out
