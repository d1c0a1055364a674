"""oslo.messaging's wire format: the envelope, requests, replies, failures, notifications.

Pure functions from dicts to bytes and back, shared by every transport, so that what the
memory transport carries is byte for byte what RabbitMQ carries. The facts are in
``docs/messaging.md`` (OpenStack interop): the body is ``{"oslo.version": "2.0",
"oslo.message": "<JSON>"}``, and the inner message holds ``method``, ``args``, ``version``,
``namespace``, ``_unique_id``, ``_context_*`` and, for calls, ``_msg_id``, ``_reply_q`` and
``_timeout``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import importlib
import json
import random
import re
import traceback
import uuid
from collections.abc import Collection, Mapping
from typing import Any, Final

import orjson

from anker.messaging._errors import (
    InvalidMessage,
    MessageTooLarge,
    NoSuchMethod,
    RemoteError,
    SerializationError,
    UnsupportedVersion,
)

__all__ = [
    "ENVELOPE_VERSION",
    "PRIORITIES",
    "decode",
    "encode",
    "exception_from_failure",
    "failure_from_exception",
    "new_id",
    "normal_priority",
    "notification",
    "reply",
    "request",
    "unwrap",
    "wrap",
]

ENVELOPE_VERSION: Final = "2.0"
#: Notification priorities, in oslo.messaging's spelling (lower case on the routing key).
PRIORITIES: Final = ("audit", "debug", "info", "warn", "error", "critical", "sample")
_PRIORITY_ALIASES: Final = {"warning": "warn"}

_OSLO_DISPATCHER = "oslo_messaging.rpc.dispatcher"
_OSLO_VERSION_MESSAGE = re.compile(r".*RPC version (\S+?)(?:\. Attempted method: (\S+))?")


def new_id() -> str:
    """A message, reply or unique id in oslo.messaging's form (32 hex digits, a UUID 4).

    Ids only need to be unique, not unpredictable (anyone on the bus can send anything), so
    they come from :mod:`random` (reseeded after a fork) rather than a system call per id.
    """
    return f"{_random_uuid4():032x}"


def new_uuid() -> str:
    """A UUID 4 with dashes, as oslo writes a notification's ``message_id``."""
    digits = f"{_random_uuid4():032x}"  # str(uuid.UUID(int=...)) without building a UUID
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _random_uuid4() -> int:
    # 128 random bits with the version (4) and variant (RFC 4122) bits set, as uuid.uuid4
    return (random.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET


_UUID4_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET: Final = (0x4000 << 64) | (0x8000 << 48)


def _default(value: Any) -> Any:
    """What orjson cannot write by itself, written as OpenStack's JSON would have it."""
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise TypeError("bytes that are not UTF-8 (use RichSerializer for binary)") from None
    raise TypeError(f"type {type(value).__qualname__} is not JSON serializable")


def _default_std(value: Any) -> Any:
    """What the standard library cannot write by itself, written as orjson writes it (for the
    texts orjson cannot write: integers past 64 bits, NaN and infinities)."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return _default(value)


def _has_non_finite(value: Any) -> bool:  # noqa: PLR0912 - one loop, flat on purpose
    """Whether ``value`` holds a NaN or an infinity anywhere (orjson would write ``null``)."""
    # Runs on every message holding a null (every request: its context has some), so the
    # scalars of a dict, most of a message, are checked in place rather than stacked.
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            for each in item.values():
                each_kind = type(each)
                if each_kind is str or each_kind is int or each_kind is bool or each is None:
                    continue
                if each_kind is float:
                    if each - each != 0.0:
                        return True
                else:
                    stack.append(each)
        elif kind is str or kind is int or kind is bool or item is None:
            continue
        elif kind is float:
            if item - item != 0.0:  # NaN - NaN and inf - inf are NaN; finite - itself is 0
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif isinstance(item, float):
            stack.append(float(item))
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
    return False


_OPTIONS: Final = orjson.OPT_NON_STR_KEYS
# orjson reads integers past 64 bits as floats (losing digits) and refuses NaN and Infinity,
# which Python peers send; such texts are read by the standard library instead. A text may hold
# such an integer if it has a run of 19 digits: found by mapping each digit to "0" and every
# other byte to a space, then searching for 19 zeros (a regular expression takes 6 times as
# long, and this runs twice on every message received).
_DIGITS: Final = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN: Final = b"0" * 19


def _may_hold_long_number(data: bytes | str) -> bool:
    # UTF-8 never has an ASCII digit inside a multi-byte character: the runs are the same
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return _LONG_RUN in raw.translate(_DIGITS)


def encode(value: Any, what: str = "message") -> bytes:
    """``value`` as JSON bytes; a :class:`SerializationError` names ``what`` on failure.

    NaN and the infinities are written ``NaN``, ``Infinity`` and ``-Infinity``, as
    oslo.messaging writes them (Python's json), never turned into ``null``.
    """
    try:
        data = orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        reason = str(exc.__cause__) if exc.__cause__ is not None else str(exc)
        if "64-bit" not in reason:
            raise SerializationError(what, reason) from None
    else:
        # orjson writes NaN and infinities as null: only a text with a null can hold one
        if b"null" not in data or not _has_non_finite(value):
            return data
    try:  # what Python's json writes, as oslo.messaging does
        return json.dumps(value, default=_default_std, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise SerializationError(what, str(exc)) from None
    except RecursionError:
        raise SerializationError(what, "nested too deeply") from None


def encode_for_size(value: Any) -> bytes:
    """``value`` as :func:`encode` writes it but for NaN and the infinities (written
    ``null``: as long as ``NaN``, give or take a few bytes): for measuring, not sending."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc.__cause__ or exc):
            raise SerializationError("a result", str(exc.__cause__ or exc)) from None
    return encode(value)


def decode(data: bytes | str, where: str) -> Any:
    """JSON bytes as a value; an :class:`InvalidMessage` names ``where`` on failure."""
    if not _may_hold_long_number(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # NaN, Infinity, or not JSON at all: the standard library decides
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMessage(where, f"not JSON ({exc})") from None
    except RecursionError:
        raise InvalidMessage(where, "JSON nested too deeply") from None


def wrap(
    message: Mapping[str, Any], *, what: str, limit: int | None = None, envelope: bool = True
) -> bytes:
    """The message in oslo's version 2.0 envelope (or bare, ``envelope=False``: oslo's v1
    notifications), as the bytes of a message body, no longer than ``limit``."""
    if envelope:
        inner = encode(message, what).decode("utf-8")
        body = orjson.dumps({"oslo.version": ENVELOPE_VERSION, "oslo.message": inner})
    else:
        body = encode(message, what)
    if limit is not None and len(body) > limit:
        raise MessageTooLarge(what, len(body), limit)
    return body


def unwrap(body: bytes | str, where: str) -> dict[str, Any]:
    """The inner message of a body: from the 2.0 envelope, or a bare (version 1) dict."""
    try:  # the envelope holds two strings: read at once (no number to misread)
        outer = orjson.loads(body)
    except orjson.JSONDecodeError:
        outer = None  # NaN, or not JSON at all: the careful reading below decides
    if not isinstance(outer, dict) or "oslo.message" not in outer:
        # oslo's "messaging" (v1) notification driver sends the bare dict: read with care
        outer = decode(body, where)
        if not isinstance(outer, dict):
            raise InvalidMessage(where, f"expected a JSON object, got {type(outer).__name__}")
        if "oslo.message" not in outer:
            return outer
    version = str(outer.get("oslo.version", ""))
    if version.split(".", 1)[0] != ENVELOPE_VERSION.split(".", 1)[0]:
        raise InvalidMessage(where, f"unsupported envelope version {version!r}")
    inner = outer["oslo.message"]
    if not isinstance(inner, str):
        raise InvalidMessage(where, "the envelope's 'oslo.message' is not a string")
    message = decode(inner, where)
    if not isinstance(message, dict):
        raise InvalidMessage(where, "the envelope's message is not a JSON object")
    return message


def request(
    method: str,
    args: Mapping[str, Any],
    context: Mapping[str, Any],
    *,
    version: str | None = None,
    namespace: str | None = None,
    msg_id: str | None = None,
    reply_q: str | None = None,
    call_monitor_timeout: float | None = None,
) -> dict[str, Any]:
    """An RPC request: a cast without ``msg_id``, a call with ``msg_id`` and ``reply_q``."""
    message: dict[str, Any] = {"method": method, "args": dict(args)}
    if version is not None:
        message["version"] = version
    if namespace is not None:
        message["namespace"] = namespace
    message["_unique_id"] = new_id()
    message.update(context)
    if msg_id is not None:
        message["_msg_id"] = msg_id
        message["_reply_q"] = reply_q
        message["_timeout"] = call_monitor_timeout
    return message


def reply(
    msg_id: str, *, result: Any = None, failure: str | None = None, ending: bool = True
) -> dict[str, Any]:
    """A reply to a call; ``ending=False`` is a call-monitor heartbeat."""
    return {
        "result": result,
        "failure": failure,
        "ending": ending,
        "_msg_id": msg_id,
        "_unique_id": new_id(),
    }


def failure_from_exception(exc: BaseException) -> str:
    """An exception as oslo's failure JSON: class, module, message, traceback, args."""
    kind = type(exc)
    data = {
        "class": kind.__name__,
        "module": kind.__module__,
        "message": text_of(exc),
        "tb": traceback.format_exception(kind, exc, exc.__traceback__),
        "args": list(exc.args),
        "kwargs": getattr(exc, "kwargs", None) or {},
    }
    try:
        return encode(data, "failure").decode("utf-8")
    except SerializationError:  # arguments that JSON cannot carry: send their text instead
        data["args"] = [text_of(arg) for arg in exc.args]
        data["kwargs"] = {}
        return orjson.dumps(data, default=text_of).decode("utf-8")


def text_of(value: object) -> str:
    """``str(value)``, or a stand-in when its ``__str__`` fails (the failure must still go)."""
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}: str() failed>"


def exception_from_failure(failure: str, allowed_modules: Collection[str]) -> Exception:
    """The exception a failure describes.

    A class from a module in ``allowed_modules`` (or ``builtins``) is rebuilt and raised as
    itself, with the remote traceback in ``remote_traceback``; anything else, or a class that
    cannot be rebuilt from its arguments, becomes a :class:`RemoteError`.
    """
    try:
        data = orjson.loads(failure)
    except orjson.JSONDecodeError:
        return RemoteError("unknown", failure)
    if not isinstance(data, dict):
        return RemoteError("unknown", str(data))
    name = str(data.get("class", "Exception"))
    module = str(data.get("module", ""))
    message = str(data.get("message", ""))
    # a peer's failure is input like any other: wrong types are read as absent
    tb: list[Any] = data["tb"] if isinstance(data.get("tb"), list) else []
    args: list[Any] = data["args"] if isinstance(data.get("args"), list) else []
    kwargs: dict[str, Any] = data["kwargs"] if isinstance(data.get("kwargs"), dict) else {}
    if module == _OSLO_DISPATCHER:  # an oslo.messaging server's dispatch errors, as anker's
        if name == "NoSuchMethod":
            return NoSuchMethod(message.rsplit(" ", 1)[-1])
        version = _OSLO_VERSION_MESSAGE.fullmatch(message)
        if name == "UnsupportedVersion" and version is not None:
            return UnsupportedVersion(version.group(1), version.group(2))
    kind: type[Exception] | None = None
    if module == "builtins" or module in allowed_modules:
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            found = None
        if isinstance(found, type) and issubclass(found, Exception):
            kind = found
    if kind is not None:
        try:
            exc = kind(*args, **kwargs) if isinstance(kwargs, dict) else kind(*args)
        except Exception:
            exc = None
        if exc is not None:
            exc.remote_traceback = list(tb)  # type: ignore[attr-defined]
            return exc
    remote_name = f"{module}.{name}" if module and module != "builtins" else name
    return RemoteError(remote_name, message, [str(line) for line in tb])


def normal_priority(priority: str) -> str:
    """``priority`` as the wire spells it: lower case, ``warning`` as ``warn``."""
    priority = priority.lower()
    return _PRIORITY_ALIASES.get(priority, priority)


def notification(
    publisher_id: str,
    event_type: str,
    priority: str,
    payload: Any,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """A notification as oslo's ``messagingv2`` driver sends it (inside the envelope)."""
    message: dict[str, Any] = {
        "message_id": new_uuid(),
        "publisher_id": publisher_id,
        "event_type": event_type,
        "priority": priority.upper(),
        "payload": payload,
        # str() of a naive UTC datetime, as oslo writes it (no ".000000" at a whole second)
        "timestamp": str(dt.datetime.now(dt.UTC).replace(tzinfo=None)),
        "_unique_id": new_id(),
    }
    message.update(context)
    return message
