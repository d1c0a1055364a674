"""Reading TOML config files: top-level keys are ``[DEFAULT]``, each table a section.

A table inside a section is the value of a ``dict[str, ...]`` option; a dict option of
``[DEFAULT]`` is written under an explicit ``[DEFAULT]`` table.

Values keep their TOML types (``workers = 4``, ``hosts = ["a", "b"]``) and are checked
against the option types like any other value. ``tomllib`` reports no positions for values,
so each entry is located by finding its key under its table header.
"""

from __future__ import annotations

from anker.config._ini import Entry, IniFile
from anker.config._schema import DEFAULT

__all__ = ["parse_toml"]


def parse_toml(text: str, name: str, into: IniFile) -> IniFile:
    import tomllib

    try:
        document = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, huge integers, deep nesting
        message = str(exc)
        line = None
        if "(at line " in message:
            position = message.rsplit("(at line ", 1)[1]
            line = int(position.split(",", 1)[0])
            message = message.rsplit(" (at line ", 1)[0]
        if isinstance(exc, RecursionError):
            message = "values nest too deeply"
        into.problem("toml-syntax", f"not valid TOML: {message}", line or 1)
        return into
    where = _key_lines(text)
    for key, value in document.items():
        if isinstance(value, dict):
            into.sections[key] = where.get((key, None), 1)
            for option, item in value.items():
                # a table here is the value of a dict option (or an unknown name, reported so)
                line = where.get((key, option)) or where.get((f"{key}.{option}", None))
                into.entries.append(Entry(key, option, item, line))
        else:
            into.entries.append(Entry(DEFAULT, key, value, where.get((None, key))))
    return into


def _key_lines(text: str) -> dict[tuple[str | None, str | None], int]:
    """Where each ``[table]`` header and each ``key =`` line is, in one pass over the text."""
    found: dict[tuple[str | None, str | None], int] = {}
    table: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            table = stripped.strip("[]").replace(" ", "").replace('"', "")
            found.setdefault((table, None), number)
        elif "=" in stripped and not stripped.startswith("#"):
            key = stripped.split("=", 1)[0].strip().strip("\"'")
            found.setdefault((table, key), number)
    return found
