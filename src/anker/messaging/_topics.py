"""Names, routing keys and binding patterns of raw messages (``Transport.publish`` and
``Transport.consume``), checked the same way on every transport, and AMQP topic matching.

A routing key is words joined by dots (``orders.eu.created``); a binding pattern is the same
with ``*`` for exactly one word and ``#`` for zero or more (AMQP's topic exchange, which
RabbitMQ applies itself; memory:// and nats:// match with :func:`matcher`).

Checks are a little stricter than RabbitMQ's so that what passes works on every transport:
no empty words (NATS has none), no ``*``, ``#`` or ``>`` inside a word (NATS wildcards), no
whitespace or control characters.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from anker.messaging._target import AMQP_NAME

__all__ = [
    "check_bindings",
    "check_body",
    "check_headers",
    "check_key",
    "check_name",
    "check_ttl",
    "matcher",
    "matches",
]

#: the longest routing key or pattern, in UTF-8 bytes (AMQP's short string)
MAX_KEY: Final = 255
#: the longest exchange or queue name (RabbitMQ's client library refuses longer exchanges)
MAX_NAME: Final = 127
#: the most header bytes a raw message may carry (names, values and a separator each): NATS
#: refuses more than 64 KiB with its own headers, RabbitMQ a header frame over ``frame_max``
MAX_HEADERS: Final = 32 * 1024
#: header name prefixes the transports keep for themselves (case-insensitive)
RESERVED_HEADERS: Final = ("anker-", "nats-")
_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
_WILD = re.compile(r"[*#>]")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token, as NATS wants


def check_name(value: object, kind: str, where: str) -> str:
    """An exchange or queue name: 1 to 127 of ASCII letters, digits and ``_.:@,/+-``, not
    ``amq.``."""
    text = _text(value, f"{kind} name", where, MAX_NAME)
    problem = None
    if _WILD.search(text):
        problem = "it holds a wildcard (*, # or >)"
    elif text.startswith("amq."):
        problem = "names starting with 'amq.' are reserved by the broker"
    elif not AMQP_NAME.fullmatch(text):
        problem = "ASCII letters, digits and _.:@,/+- only (what AMQP takes)"
    if problem is not None:
        raise ValueError(f"{where}: bad {kind} name {text!r}: {problem}")
    return text


def _text(value: object, kind: str, where: str, limit: int) -> str:
    """``value`` if it is a non-empty str of at most ``limit`` bytes without whitespace or
    control characters; else an error naming ``kind`` and ``where``."""
    if not isinstance(value, str):
        raise TypeError(f"{where}: the {kind} must be a str, not {type(value).__name__}")
    problem = None
    if not value:
        problem = "it is empty"
    elif len(value.encode("utf-8", "surrogatepass")) > limit:
        problem = f"it is over {limit} bytes"
    elif _BAD_CHARS.search(value):
        problem = "it holds whitespace or a control character"
    if problem is not None:
        raise ValueError(f"{where}: bad {kind} {value!r}: {problem}")
    return value


def _words(value: object, kind: str, where: str) -> list[str]:
    words = _text(value, kind, where, MAX_KEY).split(".")
    if "" in words:
        raise ValueError(
            f"{where}: bad {kind} {value!r}: it has an empty word (two dots in a row, or a dot "
            "at an end)"
        )
    return words


def check_key(value: object, where: str) -> str:
    """A routing key: words joined by dots, without wildcards."""
    for word in _words(value, "routing key", where):
        if _WILD.search(word):
            raise ValueError(
                f"{where}: bad routing key {value!r}: the word {word!r} holds a wildcard "
                "(*, # and > are for binding patterns)"
            )
    assert isinstance(value, str)
    return value


def check_pattern(value: object, where: str) -> str:
    """A binding pattern: words, ``*`` (one word) and ``#`` (zero or more words)."""
    for word in _words(value, "binding pattern", where):
        if word not in ("*", "#") and _WILD.search(word):
            raise ValueError(
                f"{where}: bad binding pattern {value!r}: the word {word!r} mixes a wildcard "
                "with other characters (a wildcard is a whole word: '*' or '#'; '>' is NATS')"
            )
    assert isinstance(value, str)
    return value


def check_bindings(value: object, where: str) -> tuple[str, ...]:
    """A non-empty sequence of binding patterns (not one string), duplicates dropped."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(
            f"{where}: bindings must be a list of patterns such as ['orders.*'], "
            f"not {type(value).__name__}"
        )
    if not value:
        raise ValueError(f"{where}: bindings are empty: give at least one pattern ('#': all)")
    return tuple(dict.fromkeys(check_pattern(pattern, where) for pattern in value))


def check_body(value: object, limit: int, where: str) -> bytes:
    """The body: bytes (or a bytearray or memoryview), at most ``limit`` bytes."""
    from anker.messaging._errors import MessageTooLarge

    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(
            f"{where}: the body must be bytes, not {type(value).__name__} "
            "(encode text or JSON yourself: the low-level API sends bytes as they are)"
        )
    body = bytes(value)
    if len(body) > limit:
        raise MessageTooLarge(where, len(body), limit)
    return body


def check_headers(value: object, where: str) -> dict[str, str]:
    """Headers: a mapping of names (HTTP tokens, not ``Anker-`` or ``Nats-``) to strings
    without line breaks, nor whitespace at either end."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}: headers must be a mapping of str to str, not {type(value)}")
    headers: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise TypeError(
                f"{where}: header {name!r}: names and values must be str, not "
                f"{type(name).__name__} and {type(text).__name__}"
            )
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(
                f"{where}: bad header name {name!r}: letters, digits and !#$%&'*+.^_`|~- only"
            )
        if name.lower().startswith(RESERVED_HEADERS):
            raise ValueError(
                f"{where}: header {name!r}: names starting with Anker- or Nats- are reserved "
                "for the transports"
            )
        if "\r" in text or "\n" in text or "\x00" in text:
            raise ValueError(f"{where}: header {name!r}: the value holds a line break or NUL")
        if text != text.strip(" \t"):
            raise ValueError(
                f"{where}: header {name!r}: the value starts or ends with whitespace "
                "(NATS drops it: the value would not arrive as sent)"
            )
        headers[name] = text
    size = sum(len(f"{name}: {text}\r\n".encode()) for name, text in headers.items())
    if size > MAX_HEADERS:
        raise ValueError(
            f"{where}: the headers take {size} bytes, over the limit of {MAX_HEADERS}"
            " (NATS refuses large header blocks): put large values in the body"
        )
    return headers


def check_ttl(value: object, where: str) -> float | None:
    """A time to live in seconds: None, or a positive finite number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{where}: ttl must be seconds (a number), not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: ttl must be a positive number of seconds, not {value!r}")
    return float(value)


@functools.lru_cache(maxsize=1024)
def matcher(pattern: str) -> Callable[[str], bool]:
    """A function telling whether a routing key matches the AMQP topic ``pattern``."""
    words: list[str] = []
    for word in pattern.split("."):
        if not (word == "#" and words and words[-1] == "#"):  # '#.#' is '#'
            words.append(word)
    if "#" not in words:
        size = len(words)
        if "*" not in words:
            return pattern.__eq__
        return lambda key: _fixed(words, size, key)
    return lambda key: _matches(words, key.split("."))


def _fixed(words: list[str], size: int, key: str) -> bool:
    parts = key.split(".")
    return len(parts) == size and all(w in ("*", p) for w, p in zip(words, parts, strict=True))


def _matches(words: list[str], parts: list[str]) -> bool:
    """Dynamic programming over (pattern words, key words): linear in each, never the
    exponential backtracking a regular expression can take on patterns like '#.*.#.*.x'."""
    # reach[j]: the first i pattern words can match the first j key words
    reach = [True] + [False] * len(parts)
    for word in words:
        if word == "#":
            for j in range(1, len(reach)):
                reach[j] = reach[j] or reach[j - 1]
        else:
            for j in range(len(reach) - 1, 0, -1):
                reach[j] = reach[j - 1] and (word == "*" or word == parts[j - 1])
            reach[0] = False
    return reach[-1]


def matches(pattern: str, key: str) -> bool:
    """Whether routing key ``key`` matches the AMQP topic ``pattern``."""
    return matcher(pattern)(key)
