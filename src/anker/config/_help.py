"""``--help`` for a service's command line: every option :meth:`Config.load` takes from argv.

Laid out as argparse lays out its help (oslo.config's command line is argparse), so a service
that moves from oslo.config keeps answering ``--help`` the way its operators expect.
"""

from __future__ import annotations

import os
import sys

from anker._typing import TYPE_CHECKING
from anker.config._kinds import BoolKind, ListKind, OptionalKind
from anker.config._schema import DEFAULT, MISSING, Option, Schema, _first_paragraph

if TYPE_CHECKING:
    from anker.config._commands import Level

__all__ = ["help_text", "print_help"]

WIDTH = 79
COLUMN = 24  # where the help of each option starts, as argparse puts it


def print_help(schema: Schema, env_prefix: str | None, level: Level | None = None) -> None:
    """Write the help to stdout, named after the running program as argparse names it; with
    ``level``, the help of that chosen sub-command."""
    prog = os.path.basename(sys.argv[0] or "service")
    if level is not None and level.command is not None:
        text = help_text(level.schema, f"{prog} {level.path}", None, command=prog)
    else:
        text = help_text(schema, prog, env_prefix)
    sys.stdout.write(text)
    sys.stdout.flush()


def help_text(schema: Schema, prog: str, env_prefix: str | None, command: str = "") -> str:
    """The help of ``schema``'s command line; ``command`` is the program's name when
    ``schema`` is a sub-command's (``prog`` then also names the sub-command)."""
    from anker.config._inputs import positional_options

    positional = [
        schema.section(section).options[name]  # type: ignore[union-attr]
        for section, name, _ in positional_options(schema)
    ]
    slot = schema.command
    usage = f"usage: {prog} [-h]"
    usage += " [--OPTION VALUE ...]" if command else " [--config-file PATH] [--config-dir DIR]"
    usage += "" if command else " [--OPTION VALUE ...]"
    usage += "".join(f" {_metavar(option)}" for option in positional)
    usage += f" {{{','.join(slot.commands)}}} ..." if slot is not None else ""
    out = [usage, ""]
    about = schema.sections[DEFAULT].help if command else ""
    out += [about, ""] if about else []
    if positional:
        out.append("positional arguments:")
        for option in positional:
            out += _entry(_metavar(option), _describe(option))
        out.append("")
    if slot is not None:
        out.append("sub-commands:")
        out += _entry("{" + ",".join(slot.commands) + "}", slot.help)
        for name, found in slot.commands.items():
            out += _entry(f"  {name}", _first_paragraph(found.__doc__))
        out.append("")
    out += ["options:", *_entry("-h, --help", "show this help message and exit")]
    if not command:
        out += [
            *_entry("--config-file PATH", "A config file; repeat for more (later ones win)."),
            *_entry("--config-dir DIR", "Its *.conf and *.toml files, in name order."),
        ]
    for section in schema.sections.values():
        if section.name != DEFAULT:
            out += ["", f"[{section.name}] options:"]
        for option in section.options.values():
            out += _entry(_flag(option), _describe(option))
    if command:
        out += ["", f"The options of {command} (see {command} --help) may be given here too."]
    if env_prefix:
        head = env_prefix.upper().rstrip("_")
        out += ["", f"Each option may also be set as {head}_<SECTION>__<OPTION>."]
    return "\n".join(out) + "\n"


def _metavar(option: Option) -> str:
    """``FILE``, ``[FILE]`` (has a default) or ``FILE ...`` (a list) for a positional option."""
    kind = option.kind.inner if isinstance(option.kind, OptionalKind) else option.kind
    name = option.name.upper()
    if isinstance(kind, ListKind):
        return f"[{name} ...]" if option.default is not MISSING else f"{name} [{name} ...]"
    return f"[{name}]" if option.default is not MISSING else name


def _flag(option: Option) -> str:
    name = option.name if option.section == DEFAULT else f"{option.section}.{option.name}"
    kind = option.kind.inner if isinstance(option.kind, OptionalKind) else option.kind
    if isinstance(kind, BoolKind):
        dotted, _, last = name.rpartition(".")
        negated = f"{dotted}.no-{last}" if dotted else f"no-{last}"
        return f"--{name}, --{negated}"
    return f"--{name} VALUE"


def _describe(option: Option) -> str:
    from anker.config._sample import default_text

    assert option.kind is not None
    parts = [option.help] if option.help else []
    parts.append(f"({option.kind.describe()};")
    if option.default is MISSING:
        parts.append("required)")
    else:
        shown = default_text(option) or "''"
        parts.append(f"default: {shown})")
    return " ".join(parts)


def _entry(flag: str, text: str) -> list[str]:
    import textwrap

    lines = textwrap.wrap(text, WIDTH - COLUMN) or [""]
    indent = " " * COLUMN
    if len(flag) + 2 < COLUMN - 1:
        first = f"  {flag}".ljust(COLUMN) + lines[0]
        return [first] + [indent + line for line in lines[1:]]
    return [f"  {flag}"] + [indent + line for line in lines]
