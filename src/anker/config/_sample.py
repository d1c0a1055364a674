"""Samples and reference docs from a schema: INI, TOML, JSON Schema and Markdown.

Every output lists every option with its help, type and default; a secret's default shows as
a placeholder, never as its value (an unset one is ``<None>``, as any other: there is nothing
to hide); advanced options come last in their section. The INI sample is what
oslo-config-generator writes: every option commented out with its default, so the file loads
to the defaults as it is.
"""

from __future__ import annotations

import json
import textwrap

from anker._typing import TYPE_CHECKING
from anker.config._kinds import Kind, OptionalKind, SecretKind
from anker.config._schema import DEFAULT, MISSING, NOT_READY, Option, Schema, Section

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["FORMATS", "default_text", "render_sample"]

SECRET_PLACEHOLDER = "<secret>"
NONE_PLACEHOLDER = "<None>"  # as oslo-config-generator writes an unset default
WIDTH = 79


def render_sample(schema: Schema, fmt: str) -> str:
    """The sample of ``schema`` in ``fmt``: ``ini``, ``toml``, ``json-schema`` or ``markdown``."""
    return FORMATS[fmt](schema)


def _ordered(section: Section) -> Iterator[Option]:
    options = list(section.options.values())
    yield from (o for o in options if not o.advanced)
    yield from (o for o in options if o.advanced)


def _kind(option: Option) -> Kind:
    assert option.kind is not None
    return option.kind


def default_text(option: Option) -> str:
    """The default as a config file would hold it, or a placeholder."""
    if option.sample_default is not None:
        return option.sample_default
    if option.default is MISSING:
        return ""
    if option.default is None:
        return NONE_PLACEHOLDER
    if option.is_secret:
        return SECRET_PLACEHOLDER
    if option.ready_default is NOT_READY:  # a default with $references: shown as written
        return str(option.default)
    return _kind(option).to_text(option.ready_default)  # URLs show their passwords masked


def _notes(option: Option) -> list[str]:
    kind = _kind(option)
    notes = [
        f"Type: {kind.describe()}" + (" (repeat the key for more values)" if option.multi else "")
    ]
    if option.default is MISSING:
        notes.append("Required: it has no default.")
    if option.mutable:
        notes.append("Mutable: a reload applies a new value without a restart.")
    if option.advanced:
        notes.append("Advanced: change it only when you know why.")
    if option.deprecated_names:
        notes.append("Deprecated names: " + ", ".join(option.deprecated_names))
    if option.deprecated_for_removal:
        reason = f" {option.deprecated_reason}" if option.deprecated_reason else ""
        notes.append(f"Deprecated for removal.{reason}")
    return notes


def _comment(text: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        wrapped = textwrap.wrap(" ".join(paragraph.split()), WIDTH - 2) or [""]
        lines += [f"# {line}".rstrip() for line in wrapped]
    return lines


def ini_sample(schema: Schema) -> str:
    out: list[str] = []
    for section in schema.sections.values():
        out.append(f"[{section.name}]")
        out.append("")
        if section.help and section.name != DEFAULT:
            out += [*_comment(section.help), ""]
        for option in _ordered(section):
            if option.help:
                out += _comment(option.help)
            out += [f"# {note}" for note in _notes(option)]
            first, *rest = default_text(option).split("\n")
            out.append(f"#{option.name} = {first}".rstrip())
            out += [f"#    {line}" for line in rest]  # continuation lines, once uncommented
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _toml_value(option: Option) -> str:
    if option.sample_default is not None:
        return json.dumps(option.sample_default)
    if option.default is MISSING or option.default is None:
        return '""'
    if option.is_secret:
        return json.dumps(SECRET_PLACEHOLDER)
    if option.ready_default is NOT_READY:
        return json.dumps(option.default)
    native = _kind(option).to_native(option.ready_default)
    if isinstance(native, dict):
        inner = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in native.items())
        return "{ " + inner + " }" if inner else "{}"
    return json.dumps(native, default=str)


def toml_sample(schema: Schema) -> str:
    out: list[str] = []
    for section in schema.sections.values():
        out.append(f"[{section.name}]")
        if section.help and section.name != DEFAULT:
            out += _comment(section.help)
        out.append("")
        for option in _ordered(section):
            if option.help:
                out += _comment(option.help)
            out += [f"# {note}" for note in _notes(option)]
            out.append(f"# {option.name} = {_toml_value(option)}")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def json_schema(schema: Schema) -> str:
    properties: dict[str, object] = {}
    for section in schema.sections.values():
        options: dict[str, object] = {}
        required: list[str] = []
        for option in section.options.values():
            entry: dict[str, object] = dict(_kind(option).json_schema())
            if option.help:
                entry["description"] = option.help
            if option.default is MISSING:
                required.append(option.name)
            elif not option.is_secret or option.default is None:  # None hides nothing
                entry["default"] = _json_default(option)
            if option.deprecated_for_removal:
                entry["deprecated"] = True
            options[option.name] = entry
        body: dict[str, object] = {"type": "object", "properties": options}
        if section.help:
            body["description"] = section.help
        if required:
            body["required"] = required
        properties[section.name] = body
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": schema.root.__qualname__,
        "type": "object",
        "properties": properties,
    }
    return json.dumps(document, indent=2) + "\n"


def _json_default(option: Option) -> object:
    if option.sample_default is not None:
        return option.sample_default
    if option.default is None or option.ready_default is NOT_READY:
        return option.default
    return _kind(option).to_native(option.ready_default)


def markdown_reference(schema: Schema) -> str:
    out = [f"# Configuration reference: {schema.root.__qualname__}", ""]
    for section in schema.sections.values():
        out += [f"## [{section.name}]", ""]
        if section.help:
            out += [section.help, ""]
        out += ["| option | type | default | notes |", "|---|---|---|---|"]
        for option in _ordered(section):
            kind = _kind(option)
            inner = kind.inner if isinstance(kind, OptionalKind | SecretKind) else kind
            default = "(required)" if option.default is MISSING else f"`{default_text(option)}`"
            notes = [option.help] if option.help else []
            notes += list(_notes(option)[1:])
            cells = [f"`{option.name}`", inner.describe(), default, " ".join(notes)]
            # a table row is one line: multi-line help (oslo.config's) is joined
            cells = [" ".join(cell.split()).replace("|", "\\|") for cell in cells]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


FORMATS = {
    "ini": ini_sample,
    "toml": toml_sample,
    "json-schema": json_schema,
    "markdown": markdown_reference,
}
