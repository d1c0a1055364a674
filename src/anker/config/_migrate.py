"""Rewriting an INI file so deprecated option names become their new names.

A deprecated name in the same section is renamed where it stands. One that moves to another
section is taken out (with its continuation lines) and written at the end of the new section,
which is added at the end of the file if it is missing. Comments, blank lines and the order of
everything else stay as they were. What cannot be decided without a human is left untouched
and reported: an option set under both its old and new names with different values, and
options deprecated for removal.
"""

from __future__ import annotations

from anker.config._schema import Schema, normalize_section

__all__ = ["Migration", "migrate_text"]


class Migration:
    """The rewritten text, what was changed, and what needs a human."""

    __slots__ = ("changed", "manual", "text")

    def __init__(self, text: str, changed: list[str], manual: list[str]) -> None:
        self.text = text
        self.changed = changed
        self.manual = manual


class _Line:
    __slots__ = ("key", "section", "text", "value")

    def __init__(self, text: str, section: str | None, key: str | None, value: str | None) -> None:
        self.text, self.section, self.key, self.value = text, section, key, value


def _scan(text: str) -> list[_Line]:
    """Each line with the section it is in and, for a ``key = value`` line, its key and value."""
    lines: list[_Line] = []
    section: str | None = None
    for raw in text.split("\n"):
        stripped = raw.rstrip()
        key = value = None
        if stripped.startswith("[") and stripped.endswith("]") and len(stripped) > 2:
            section = stripped[1:-1]
        elif stripped and stripped[0] not in " \t#;[":
            equal, colon = stripped.find("="), stripped.find(":")
            if equal >= 0 or colon >= 0:
                split = equal if colon < 0 or 0 <= equal < colon else colon
                key, value = stripped[:split].strip(), stripped[split + 1 :].strip()
        lines.append(_Line(raw, section, key, value))
    return lines


def _extent(lines: list[_Line], index: int) -> int:
    """The index after the key line at ``index`` and its continuation lines."""
    end = index + 1
    while end < len(lines) and lines[end].text[:1] in (" ", "\t") and lines[end].text.strip():
        end += 1
    return end


def migrate_text(
    text: str, schema: Schema, name: str = "<config>", *, undeclared: bool = False
) -> Migration:
    """``text`` with deprecated names renamed. ``undeclared``: also list, for a human, the
    options and sections the schema does not declare (removed, or misspelt)."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    migrator = _Migrator(_scan(text[len(bom) :]), schema, name)
    migrator.undeclared = undeclared
    migrator.survey()
    for target, indexes in migrator.olds.items():
        migrator.migrate(target, indexes)
    kept = [line for index, line in enumerate(migrator.lines) if index not in migrator.drop]
    changed = sorted(migrator.changed, key=_line_number)
    manual = sorted(migrator.manual, key=_line_number)
    return Migration(bom + _insert(kept, migrator.moves), changed, manual)


class _Migrator:
    def __init__(self, lines: list[_Line], schema: Schema, name: str) -> None:
        self.lines, self.schema, self.name = lines, schema, name
        self.changed: list[str] = []
        self.manual: list[str] = []
        self.current: dict[tuple[str, str], str] = {}  # (section, key) -> its whole value
        self.olds: dict[tuple[str, str], list[int]] = {}  # current name -> its old-name lines
        self.moves: dict[str, list[str]] = {}  # target section -> lines to add at its end
        self.drop: set[int] = set()
        self.undeclared = False
        self.unknown_sections: set[str] = set()

    def where(self, index: int) -> str:
        line = self.lines[index]
        return f"{self.name}:{index + 1}: [{line.section}] {line.key}"

    def survey(self) -> None:
        for index, line in enumerate(self.lines):
            if line.key is None or line.section is None:
                continue
            section = normalize_section(line.section)
            self.current[(section, line.key)] = _full_value(self.lines, index)
            option = self.schema.deprecated.get((section, line.key))
            if option is not None:
                target = (normalize_section(option.section), option.name)
                self.olds.setdefault(target, []).append(index)
                continue
            own = self.schema.section(section)
            found = own.options.get(line.key) if own else None
            if found is None and self.undeclared:
                self.not_declared(index, section)
            if found is not None and found.deprecated_for_removal:
                reason = f": {found.deprecated_reason}" if found.deprecated_reason else ""
                self.manual.append(
                    f"{self.where(index)} is deprecated for removal{reason}; remove it by hand"
                )

    def not_declared(self, index: int, section: str) -> None:
        from anker.config._load import _closest

        line = self.lines[index]
        own = self.schema.section(section)
        if own is None:
            if section in self.unknown_sections or self.schema.is_foreign(section):
                return
            self.unknown_sections.add(section)
            known = [s.name for s in self.schema.sections.values()]
            close = _closest(section, known)
            hint = f"; did you mean [{close}]?" if close else ""
            header = next(
                (i for i in range(index, -1, -1) if self.lines[i].text.lstrip().startswith("[")),
                index,
            )
            self.manual.append(
                f"{self.name}:{header + 1}: [{line.section}] is not a declared section{hint}"
                " (removed, or misspelt); move or remove its options by hand"
            )
            return
        assert line.key is not None
        close = _closest(line.key, list(own.options))
        hint = f"; did you mean '{close}'?" if close else ""
        self.manual.append(
            f"{self.where(index)} is not declared{hint} (removed, or misspelt);"
            " rename or remove it by hand"
        )

    def migrate(self, target: tuple[str, str], indexes: list[int]) -> None:
        option = self.schema.sections[target[0]].options[target[1]]
        new = f"[{option.section}] {option.name}"
        values = {_full_value(self.lines, i) for i in indexes}
        in_place = {
            i for i in indexes if normalize_section(self.lines[i].section or "") == target[0]
        }
        if target in self.current:
            if values == {self.current[target]}:
                for index in indexes:
                    self.remove(index, f"removed (same value as {new})")
            else:
                self.manual += [
                    f"{self.where(i)} is a deprecated name of {new}, which is also set to"
                    " another value; keep one of them by hand"
                    for i in indexes
                ]
            return
        if len(indexes) > 1 and (
            (not option.multi and len(values) > 1) or (option.multi and in_place)
        ):
            # Which value wins depends on where each line is; moving lines could change that.
            self.manual += [
                f"{self.where(i)} is one of {len(indexes)} old names of {new}; merge them by hand"
                for i in indexes
            ]
            return
        keep = indexes if option.multi else indexes[:1]
        for index in indexes[len(keep) :]:
            self.remove(index, "removed (the same value is migrated once)")
        for index in keep:
            if index in in_place:
                line = self.lines[index]
                assert line.key is not None
                line.text = _renamed(line.text, line.key, option.name)
                self.changed.append(f"{self.where(index)} -> {option.name}")
            else:
                self.move(index, option.section, option.name)
                self.changed.append(f"{self.where(index)} -> {new}")

    def remove(self, index: int, why: str) -> None:
        self.drop.update(range(index, _extent(self.lines, index)))
        self.changed.append(f"{self.where(index)}: {why}")

    def move(self, index: int, section: str, key: str) -> None:
        line, end = self.lines[index], _extent(self.lines, index)
        assert line.key is not None
        moved = [_renamed(line.text, line.key, key)]
        moved += [self.lines[i].text for i in range(index + 1, end)]
        self.moves.setdefault(section, []).extend(moved)
        self.drop.update(range(index, end))


def _line_number(report: str) -> int:
    try:
        return int(report.split(":", 2)[1])
    except (IndexError, ValueError):
        return 0


def _full_value(lines: list[_Line], index: int) -> str:
    """A key's value with its continuation lines, as the reader joins them."""
    parts = [lines[index].value or ""]
    parts += [lines[i].text.strip() for i in range(index + 1, _extent(lines, index))]
    return "\n".join(parts)


def _renamed(text: str, old: str, new: str) -> str:
    at = text.index(old)
    return text[:at] + new + text[at + len(old) :]


def _insert(lines: list[_Line], moves: dict[str, list[str]]) -> str:
    """Put moved lines at the end of their sections; add missing sections at the end."""
    missing: list[str] = []
    for section, added in moves.items():
        wanted = normalize_section(section)
        last = None
        for index, line in enumerate(lines):
            in_section = line.section is not None and normalize_section(line.section) == wanted
            if in_section and (line.key is not None or line.text.startswith("[")):
                last = index
        if last is None:
            missing.append(section)
            continue
        end = _extent(lines, last)
        lines[end:end] = [_Line(text, section, None, None) for text in added]
    texts = [line.text for line in lines]
    for section in missing:
        while texts and not texts[-1].strip():
            texts.pop()
        texts += ["", f"[{section}]", *moves[section], ""]
    return "\n".join(texts)
