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

from anker._secret import Secret
from anker._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "REFERENCE_KINDS",
    "Budget",
    "Substitution",
    "Undeclared",
    "fetch_reference",
    "has_reference",
    "substitute",
]

REFERENCE_KINDS = ("secret", "file", "env")
MAX_REFERENCE_FILE = 1024 * 1024
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789.")


class Substitution(Exception):
    """A ``$`` reference could not be resolved; the message says which and why."""


class Undeclared(Substitution):
    """A ``$name`` names no declared option (oslo.config fails only when it is read)."""


class Budget:
    """How many characters substitution may still produce in one load.

    References nest, so a small file can expand exponentially (``a = $b$b``, ``b = $c$c``,
    ...); counting what is produced stops that before memory runs out.
    """

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = self.left = limit

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise Substitution(
                f"$references expand to more than {self.limit >> 20} MiB in all"
                " (references that repeat references?)"
            )


def has_reference(text: str) -> bool:
    """Whether ``text`` holds a ``${secret:...}``/``${file:...}``/``${env:...}`` reference."""
    return any(f"${{{kind}:" in text for kind in REFERENCE_KINDS)


def substitute(
    text: str,
    lookup: Callable[[str], str],
    reference: Callable[[str, str], str],
    budget: Budget | None = None,
) -> str:
    """Replace each ``$name`` by ``lookup(name)`` and each ``${kind:arg}`` by
    ``reference(kind, arg)``; either may raise :class:`Substitution`, and so does running
    out of ``budget``."""
    if "$" not in text:
        return text
    out: list[str] = _Counted(budget) if budget is not None else []
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


def fetch_reference(
    kind: str,
    argument: str,
    environ: Mapping[str, str],
    secrets: Callable[[str], str] | None,
) -> str:
    """The text a ``${kind:argument}`` reference stands for; raises :class:`Substitution`."""
    if kind == "env":
        if argument not in environ:
            raise Substitution(f"environment variable {argument} is not set")
        return environ[argument]
    if kind == "file":
        try:
            with open(argument, encoding="utf-8") as handle:
                text = handle.read(MAX_REFERENCE_FILE + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise Substitution(
                f"cannot read {argument}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        if len(text) > MAX_REFERENCE_FILE:
            raise Substitution(f"{argument} is larger than 1 MiB")
        return text[:-1] if text.endswith("\n") else text
    resolver = secrets
    if resolver is None:
        raise Substitution(f"no secret store is configured to resolve ${{secret:{argument}}}")
    try:
        found: object = resolver(argument)
    except Exception as exc:  # a store's own error: keep its type and message, not the secret
        raise Substitution(
            f"the secret store cannot resolve ${{secret:{argument}}}: {type(exc).__name__}: {exc}"
        ) from None
    if isinstance(found, Secret):
        found = found.reveal()
    if isinstance(found, bytes):
        try:
            found = found.decode("utf-8")
        except UnicodeDecodeError:
            raise Substitution(f"${{secret:{argument}}} is not UTF-8 text") from None
    if not isinstance(found, str):
        raise Substitution(
            f"the secret store gave a {type(found).__name__}, not text, for ${{secret:{argument}}}"
        )
    return found


class _Counted(list[str]):
    """The output of one substitution, charged to a budget as it grows."""

    __slots__ = ("budget",)

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self.budget = budget

    def append(self, text: str) -> None:
        self.budget.spend(len(text))
        super().append(text)
