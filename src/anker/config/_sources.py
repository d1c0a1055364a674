"""Where values come from: config files and directories, the environment, the command line.

Precedence, lowest first: option defaults < config files < environment < command line.

* Config files are read in the order given; a config directory stands for its ``*.conf`` and
  ``*.toml`` files (not hidden ones) in sorted name order, at the place the directory was
  given. A later file wins over an earlier one; within a file the last assignment of a key
  wins. Multi-valued options take every value of every file, in order.
* Environment variables: ``<PREFIX>_<SECTION>__<OPTION>`` (``NOVA_DATABASE__CONNECTION``);
  ``<PREFIX>_<OPTION>`` or ``<PREFIX>_DEFAULT__<OPTION>`` for ``[DEFAULT]``. With the prefix
  ``OS`` it is exactly oslo.config's form, ``OS_<GROUP>__<OPT>`` (no short form).
* Command line: ``--config-file PATH`` and ``--config-dir DIR`` (repeatable, in order), and
  ``--option VALUE`` / ``--section.option=VALUE`` for any option (``--flag`` / ``--no-flag``
  for booleans; dashes and underscores are alike).
"""

from __future__ import annotations

import os

from anker._typing import TYPE_CHECKING
from anker.config._ini import Entry, IniFile, parse_ini, read_config_bytes
from anker.config._problems import Problem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "Origin",
    "argv_assignments",
    "environment_assignments",
    "expand_paths",
    "read_file",
]

CONFIG_SUFFIXES = (".conf", ".toml")


class Origin:
    """Where a value came from: ``default``, ``file``, ``env``, ``cli`` or ``override``.

    ``location`` is ``nova.conf:12``, ``NOVA_DEBUG`` or ``--debug``; ``reference`` is the value
    as written when it held ``${secret:...}``, ``${file:...}`` or ``${env:...}`` references.

    .. versionadded:: 0.1
    """

    __slots__ = ("file", "kind", "line", "location", "name", "reference", "section", "written")

    def __init__(
        self,
        kind: str,
        location: str = "",
        *,
        file: str | None = None,
        line: int | None = None,
        section: str | None = None,
        name: str | None = None,
    ) -> None:
        self.kind = kind
        self.location = location
        self.file = file
        self.line = line
        self.section = section  # the section and key it was written under (maybe a
        self.name = name  # deprecated name)
        self.reference: str | None = None
        self.written: object = None  # the whole value as written, when it holds references

    def __str__(self) -> str:
        text = {
            "default": "the default",
            "file": f"file {self.location}",
            "env": f"environment variable {self.location}",
            "cli": f"command-line option {self.location}",
            "override": f"override {self.location}",
        }.get(self.kind, self.kind)
        return f"{text} via {self.reference}" if self.reference else text

    def __repr__(self) -> str:
        return f"Origin({str(self)!r})"

    def problem(self, code: str, message: str, **fields: object) -> Problem:
        """A problem located where this value was written."""
        if self.file is not None:
            return Problem(code, message, file=self.file, line=self.line, **fields)  # type: ignore[arg-type]
        return Problem(code, message, source=str(self), **fields)  # type: ignore[arg-type]


def expand_paths(files: Iterable[tuple[str, bool]], problems: list[Problem]) -> list[str]:
    """Config files to read, in order; ``(path, is_dir)`` pairs, a dir standing for its files."""
    expanded: list[str] = []
    for path, is_dir in files:
        if not is_dir:
            expanded.append(path)
            continue
        try:
            names = sorted(
                n for n in os.listdir(path) if n.endswith(CONFIG_SUFFIXES) and not n.startswith(".")
            )
        except FileNotFoundError:
            problems.append(Problem("dir-missing", "no such config directory", file=path))
            continue
        except NotADirectoryError:
            problems.append(Problem("dir-missing", "is not a directory", file=path))
            continue
        except OSError as exc:
            problems.append(Problem("dir-unreadable", f"cannot be listed: {exc}", file=path))
            continue
        expanded.extend(os.path.join(path, name) for name in names)
    return expanded


def read_file(path: str) -> IniFile:
    """Read one config file, INI or (by its ``.toml`` suffix) TOML."""
    result = IniFile(path)
    text = read_config_bytes(path, path, result)
    if text is None:
        return result
    if path.endswith(".toml"):
        from anker.config._toml import parse_toml

        return parse_toml(text, path, result)
    return parse_ini(text, path, result)


def environment_assignments(
    environ: Mapping[str, str], prefix: str
) -> list[tuple[Entry, str, bool]]:
    """``(entry, variable name, explicit)`` for each variable under ``<PREFIX>_``.

    ``explicit`` is true for the ``SECTION__OPTION`` form, which is reported when unknown;
    a plain ``<PREFIX>_NAME`` may belong to something else and is used only if it matches.
    """
    head = prefix.upper().rstrip("_") + "_"
    found = []
    for name, value in environ.items():
        if not name.startswith(head) or len(name) == len(head):
            continue
        rest = name[len(head) :]
        section, sep, key = rest.partition("__")
        if sep:
            section = "DEFAULT" if section.upper() == "DEFAULT" else section.lower()
            found.append((Entry(section, key.lower(), value, None), name, True))
        elif head != "OS_":  # oslo.config's own form has no short one (OS_DEBUG is oslotest's)
            found.append((Entry("DEFAULT", rest.lower(), value, None), name, False))
    return found


def argv_assignments(
    argv: Iterable[str],
    is_flag: Callable[[str, str], bool | None],
    problems: list[Problem],
    positional: Sequence[tuple[str, str, bool]] = (),
) -> tuple[list[tuple[str, bool]], list[tuple[Entry, str]]]:
    """Split a command line into config paths and option assignments.

    ``is_flag(section, key)`` tells whether an option is boolean (``None``: no such option),
    so that ``--debug`` needs no value. ``positional`` lists the options given without their
    name, ``(section, key, takes_the_rest)``, in order; the arguments after ``--`` are all
    positional. Returns ``(paths, [(entry, argument), ...])``.
    """
    paths: list[tuple[str, bool]] = []
    assignments: list[tuple[Entry, str]] = []
    bare: list[str] = []  # arguments without --name, in order
    args = list(argv)
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            bare += args[index:]
            break
        if not arg.startswith("--"):
            bare.append(arg)
            continue
        name, has_value, value = arg[2:].partition("=")
        name = name.replace("-", "_")
        if name in ("config_file", "config_dir"):
            if not has_value:
                if index >= len(args):
                    problems.append(Problem("cli-syntax", f"{arg} needs a path", source=arg))
                    continue
                value, index = args[index], index + 1
            paths.append((value, name == "config_dir"))
            continue
        section, dot, key = name.rpartition(".")
        section = section if dot else "DEFAULT"
        negated = False
        flag = is_flag(section, key)
        if flag is None and key.startswith("no_") and is_flag(section, key[3:]):
            key, negated, flag = key[3:], True, True
            if has_value:
                problems.append(
                    Problem("cli-syntax", f"{arg}: --no-{key} takes no value", source=arg)
                )
                continue
        if flag and not has_value:
            value = "false" if negated else "true"
        elif not has_value:
            if index >= len(args) and flag is not None:
                problems.append(Problem("cli-syntax", f"{arg} needs a value", source=arg))
                continue
            # the next argument; none for an unknown last option, which the caller reports
            value, index = (args[index], index + 1) if index < len(args) else ("", index)
        assignments.append((Entry(section, key, value, None), arg.partition("=")[0]))
    assignments += _positional(bare, positional, problems)
    return paths, assignments


def _positional(
    bare: list[str], positional: Sequence[tuple[str, str, bool]], problems: list[Problem]
) -> list[tuple[Entry, str]]:
    """The positional options' assignments from the bare arguments, in order."""
    found: list[tuple[Entry, str]] = []
    waiting = list(bare)
    for section, key, takes_the_rest in positional:
        if not waiting:
            break
        if takes_the_rest:  # a list: the values as they are (no splitting at commas)
            found.append((Entry(section, key, list(waiting), None), key.upper()))
            waiting = []
        else:
            found.append((Entry(section, key, waiting[0], None), key.upper()))
            waiting = waiting[1:]
    problems += [
        Problem("cli-syntax", f"unexpected argument {arg!r}", source=arg) for arg in waiting
    ]
    return found
