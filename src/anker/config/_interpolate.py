"""``$name`` substitution and ``${secret:...}`` references in string values.

As in oslo.config: ``$opt`` and ``${opt}`` name an option of the same section, then of
``[DEFAULT]``; ``${section.opt}`` names one in another section (and, unlike oslo.config,
``${DEFAULT.opt}`` works); ``$$`` and ``\\$`` give a literal ``$``; a ``$`` that starts no name
stays as it is, and so does a ``${`` that names nothing (an unclosed ``${``, ``${}``,
``${a-b}``). References fetch a value from elsewhere at load time:
``${secret:NAME}`` from the secret store, ``${file:/path}`` from a file (one trailing newline
dropped), ``${env:NAME}`` from the environment.
"""

from __future__ import annotations

from anker._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["REFERENCE_KINDS", "Substitution", "has_reference", "substitute"]

REFERENCE_KINDS = ("secret", "file", "env")
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789.")


class Substitution(Exception):
    """A ``$`` reference could not be resolved; the message says which and why."""


def has_reference(text: str) -> bool:
    """Whether ``text`` holds a ``${secret:...}``/``${file:...}``/``${env:...}`` reference."""
    return any(f"${{{kind}:" in text for kind in REFERENCE_KINDS)


def substitute(
    text: str,
    lookup: Callable[[str], str],
    reference: Callable[[str, str], str],
) -> str:
    """Replace each ``$name`` by ``lookup(name)`` and each ``${kind:arg}`` by
    ``reference(kind, arg)``; either may raise :class:`Substitution`."""
    if "$" not in text:
        return text
    out: list[str] = []
    index, length = 0, len(text)
    while index < length:
        dollar = text.find("$", index)
        if dollar < 0:
            out.append(text[index:])
            break
        if dollar > index and text[dollar - 1] == "\\":
            out.append(text[index : dollar - 1] + "$")
            index = dollar + 1
            continue
        out.append(text[index:dollar])
        following = text[dollar + 1] if dollar + 1 < length else ""
        if following == "$":
            out.append("$")
            index = dollar + 2
        elif following == "{":
            close = text.find("}", dollar + 2)
            inner = text[dollar + 2 : close] if close >= 0 else ""
            kind, colon, argument = inner.partition(":")
            if close >= 0 and colon and kind in REFERENCE_KINDS:
                out.append(reference(kind, argument))
            elif close >= 0 and inner and inner[0] in _NAME_START and set(inner) <= _NAME_CHARS:
                out.append(lookup(inner))
            else:  # as oslo.config: what names nothing stays as written
                out.append("${")
                index = dollar + 2
                continue
            index = close + 1
        elif following in _NAME_START:
            end = dollar + 1
            while end < length and text[end] in _NAME_CHARS:
                end += 1
            out.append(lookup(text[dollar + 1 : end]))
            index = end
        else:
            out.append("$")
            index = dollar + 1
    return "".join(out)
