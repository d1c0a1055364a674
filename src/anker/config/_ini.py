"""Reading INI files in oslo.config's dialect.

The dialect, as oslo.config's own parser reads it:

* ``[section]`` starts a section; the line must end with ``]`` and the name must not be empty.
* ``#`` or ``;`` in the first column starts a comment line.
* ``key = value`` or ``key: value``; whichever of ``=`` and ``:`` comes first separates them.
  Key and value are stripped; a value wrapped in matching ``"`` or ``'`` loses them.
* A line that starts with a space or tab continues the previous value (joined with ``\\n``);
  a blank line ends it.
* A key may repeat: every value is kept, in order (multi-valued options take them all; the
  others the last one).

Unlike the anchor, the reader never stops at the first mistake and never raises a bare parser
exception: it returns every entry it could read with every problem it found, each with its
file and line. A UTF-8 byte order mark, a repeated section and an unclosed quote are accepted
as oslo.config accepts them, and reported as warnings.
"""

from __future__ import annotations

from anker.config._problems import ERROR, WARNING, Problem

__all__ = [
    "MAX_FILE_BYTES",
    "Entry",
    "IniFile",
    "decode_config",
    "parse_ini",
    "read_config_bytes",
]

#: Config files larger than this are refused rather than read into memory.
MAX_FILE_BYTES = 16 * 1024 * 1024

BOM = "\ufeff"


class Entry:
    """One ``key = value`` assignment read from a file."""

    __slots__ = ("key", "line", "section", "value")

    def __init__(self, section: str, key: str, value: object, line: int | None) -> None:
        self.section = section
        self.key = key
        self.value = value
        self.line = line

    def __repr__(self) -> str:
        return f"Entry({self.section!r}, {self.key!r}, {self.value!r}, line={self.line})"


class IniFile:
    """What a config file holds: its entries in order, where each section starts, problems."""

    __slots__ = ("entries", "name", "problems", "sections")

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: list[Entry] = []
        self.sections: dict[str, int] = {}  # section name -> line of its first header
        self.problems: list[Problem] = []

    def problem(self, code: str, message: str, line: int, *, severity: str = ERROR) -> None:
        self.problems.append(Problem(code, message, severity=severity, file=self.name, line=line))


def read_config_bytes(path: str, name: str, into: IniFile) -> str | None:
    """Read a config file as UTF-8 text, or record why it cannot be read and return None."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        into.problems.append(Problem("file-missing", "no such file", file=name))
        return None
    except IsADirectoryError:
        into.problems.append(
            Problem("file-unreadable", "is a directory (use --config-dir for those)", file=name)
        )
        return None
    except OSError as exc:
        into.problems.append(
            Problem("file-unreadable", f"cannot be read: {exc.strerror or exc}", file=name)
        )
        return None
    if len(data) > MAX_FILE_BYTES:
        into.problems.append(
            Problem("file-too-large", f"is larger than {MAX_FILE_BYTES >> 20} MiB", file=name)
        )
        return None
    return decode_config(data, name, into)


def decode_config(data: bytes, name: str, into: IniFile) -> str | None:
    """Config bytes as UTF-8 text, or record which byte (and line) is not UTF-8 and return
    None; every command that reads a config file reports it in these words."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        into.problems.append(
            Problem(
                "not-utf8",
                f"byte 0x{data[exc.start]:02x} is not valid UTF-8",
                file=name,
                line=line,
            )
        )
        return None


def parse_ini(text: str, name: str, into: IniFile | None = None) -> IniFile:
    """Parse INI text; ``name`` is what problems call the file."""
    result = into if into is not None else IniFile(name)
    if text.startswith(BOM):
        text = text[1:]
        result.problem("bom", "starts with a UTF-8 byte order mark (ignored)", 1, severity=WARNING)
    parser = _Parser(result)
    for lineno, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        parser.feed(raw.rstrip(), lineno)
    parser.flush()
    return result


class _Parser:
    """Line by line, as oslo.config reads: the state is the section and the open value."""

    __slots__ = ("key", "key_line", "parts", "result", "section")

    def __init__(self, result: IniFile) -> None:
        self.result = result
        self.section: str | None = None
        self.key: str | None = None  # the key whose value may continue on the next lines
        self.key_line = 0
        self.parts: list[str] = []

    def feed(self, line: str, lineno: int) -> None:
        if not line:
            self.flush()  # a blank line ends a multi-line value
        elif line[0] in " \t":
            if self.key is None:
                self.result.problem("continuation", "indented line continues no value", lineno)
            else:
                self.parts.append(line.lstrip())
        else:
            self.flush()
            if line[0] == "[":
                self.header(line, lineno)
            elif line[0] not in "#;":
                self.assignment(line, lineno)

    def flush(self) -> None:
        if self.key is None:
            return
        if self.section is None:
            self.result.problem(
                "no-section", f"'{self.key}' is set before any [section]", self.key_line
            )
        else:
            value = "\n".join(self.parts)
            self.result.entries.append(Entry(self.section, self.key, value, self.key_line))
        self.key = None

    def header(self, line: str, lineno: int) -> None:
        if not line.endswith("]"):
            self.result.problem(
                "section-syntax", f"section header {line!r} must end with ']'", lineno
            )
            return
        if len(line) <= 2:
            self.result.problem("section-syntax", "empty section name", lineno)
            return
        self.section = line[1:-1]
        first = self.result.sections.setdefault(self.section, lineno)
        if first != lineno:
            self.result.problem(
                "duplicate-section",
                f"[{self.section}] appears again (first at line {first}); its entries are merged",
                lineno,
                severity=WARNING,
            )

    def assignment(self, line: str, lineno: int) -> None:
        equal, colon = line.find("="), line.find(":")
        if equal < 0 and colon < 0:
            self.result.problem("assignment-syntax", f"no '=' or ':' in {line!r}", lineno)
            return
        split = equal if colon < 0 or 0 <= equal < colon else colon
        key, value = line[:split].strip(), line[split + 1 :].strip()
        if not key:
            self.result.problem("assignment-syntax", f"empty key in {line!r}", lineno)
            return
        if value and value[0] in "\"'":
            if value[-1] == value[0]:  # as oslo.config: a lone quote becomes ""
                value = value[1:-1]
            elif value[0] not in value[1:]:  # "a,b",c closes its quote: no warning for that
                self.result.problem(
                    "unclosed-quote",
                    f"the value of '{key}' opens a quote it does not close (kept as written)",
                    lineno,
                    severity=WARNING,
                )
        self.key, self.key_line, self.parts = key, lineno, [value]
