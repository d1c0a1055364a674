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
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line = None
        if "(at line " in message:
            position = message.rsplit("(at line ", 1)[1]
            line = int(position.split(",", 1)[0])
            message = message.rsplit(" (at line ", 1)[0]
        into.problem("toml-syntax", f"not valid TOML: {message}", line or 1)
        return into
    lines = text.splitlines()
    for key, value in document.items():
        if isinstance(value, dict):
            into.sections[key] = _find_header(lines, key)
            for option, item in value.items():
                # a table here is the value of a dict option (or an unknown name, reported so)
                line = _find_key(lines, key, option) or _find_header(lines, f"{key}.{option}")
                into.entries.append(Entry(key, option, item, line))
        else:
            into.entries.append(Entry(DEFAULT, key, value, _find_key(lines, None, key)))
    return into


def _find_header(lines: list[str], table: str) -> int:
    for number, line in enumerate(lines, start=1):
        if line.strip().replace(" ", "") in (f"[{table}]", f'["{table}"]'):
            return number
    return 1


def _find_key(lines: list[str], table: str | None, key: str) -> int | None:
    start = 0 if table is None else _find_header(lines, table)
    for number in range(start, len(lines)):
        stripped = lines[number].strip()
        if table is None and stripped.startswith("["):
            break
        head = stripped.split("=", 1)[0].strip().strip("\"'")
        if "=" in stripped and head == key:
            return number + 1
        if table is not None and stripped.startswith("[") and number + 1 != start:
            break
    return None
