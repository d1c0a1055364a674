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


def migrate_text(text: str, schema: Schema, name: str = "<config>") -> Migration:
    lines = _scan(text)
    changed: list[str] = []
    manual: list[str] = []
    current: dict[tuple[str, str], str | None] = {}
    for line in lines:
        if line.key is not None and line.section is not None:
            current[(normalize_section(line.section), line.key)] = line.value
    moves: dict[str, list[str]] = {}  # target section -> lines to add there
    migrated: set[tuple[str, str]] = set()  # targets this migration wrote (repeats follow them)
    drop: set[int] = set()
    for index, line in enumerate(lines):
        if line.key is None or line.section is None:
            continue
        section = normalize_section(line.section)
        where = f"{name}:{index + 1}: [{line.section}] {line.key}"
        option = schema.deprecated.get((section, line.key))
        if option is None:
            own = schema.section(section)
            found = own.options.get(line.key) if own else None
            if found is not None and found.deprecated_for_removal:
                reason = f": {found.deprecated_reason}" if found.deprecated_reason else ""
                manual.append(f"{where} is deprecated for removal{reason}; remove it by hand")
            continue
        target = (normalize_section(option.section), option.name)
        set_by_file = target in current and target not in migrated
        if set_by_file and current[target] != line.value:
            manual.append(
                f"{where} is a deprecated name of [{option.section}] {option.name}, which is also"
                f" set to another value; keep one of them by hand"
            )
            continue
        end = _extent(lines, index)
        if set_by_file:
            drop.update(range(index, end))
            changed.append(f"{where}: removed (same value as [{option.section}] {option.name})")
        elif normalize_section(option.section) == section:
            line.text = _renamed(line.text, line.key, option.name)
            changed.append(f"{where} -> {option.name}")
        else:
            moved = [_renamed(line.text, line.key, option.name)]
            moved += [lines[i].text for i in range(index + 1, end)]
            moves.setdefault(option.section, []).extend(moved)
            drop.update(range(index, end))
            changed.append(f"{where} -> [{option.section}] {option.name}")
        migrated.add(target)
    kept = [line for index, line in enumerate(lines) if index not in drop]
    return Migration(_insert(kept, moves), changed, manual)


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
