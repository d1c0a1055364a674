"""Option declarations as plain data, the schema built from them, and their cache.

:mod:`anker.config._oslo` turns what oslo.config namespaces declare into this data (one
JSON-able :data:`Spec` per option); :func:`schema_from_declarations` builds an anker
:class:`Schema` from it with no oslo.config import. :func:`cached` keeps the data in a file
keyed by the namespaces and the versions of the packages that declare them, so a second
validation reads a JSON file instead of importing every service.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from anker._typing import TYPE_CHECKING
from anker.config._config import Config
from anker.config._schema import DEFAULT, Group, Option, Schema, option, schema_of

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    #: one option: its type, default, constraints, deprecations... (see _oslo.declare)
    Spec = dict[str, Any]
    #: a type: "str", "int", "float", "bool", "host", "ip", "ipv4", "ipv6",
    #: ["list", item] or ["dict", value]
    Described = str | list[Any]
    #: {"format": FORMAT, "sections": {name: {"help", "options": {name: Spec}}},
    #:  "unchecked": [[namespace, section, option, detail], ...]}
    Declarations = dict[str, Any]

__all__ = [
    "FORMAT",
    "Unchecked",
    "cache_key",
    "cached",
    "hint_of",
    "schema_from_declarations",
]

FORMAT = 2  # of the cached data (bump it when the conversion changes: every entry misses)


class Unchecked:
    """Something an oslo.config declaration says that the anker schema does not check."""

    __slots__ = ("detail", "namespace", "option", "section")

    def __init__(self, namespace: str, section: str, option: str, detail: str) -> None:
        self.namespace, self.section, self.option, self.detail = namespace, section, option, detail

    def __str__(self) -> str:
        return f"{self.namespace}: [{self.section}] {self.option}: {self.detail}"

    def as_dict(self) -> dict[str, str]:
        return {
            "namespace": self.namespace,
            "section": self.section,
            "option": self.option,
            "detail": self.detail,
        }


def hint_of(spec: Spec) -> Any:
    """The annotation an option's spec stands for (``Secret[list[int]] | None``)."""
    from anker._secret import Secret

    hint = _type(spec["type"])
    if spec["secret"]:
        hint = Secret[hint]  # type: ignore[valid-type]
    return hint | None if spec["optional"] else hint


def _type(described: Described) -> Any:
    import ipaddress

    from anker.config._network import HostAddress

    if isinstance(described, list):
        outer, inner = described
        return list[_type(inner)] if outer == "list" else dict[str, _type(inner)]  # type: ignore[misc]
    simple: dict[str, Any] = {
        "str": str,
        "int": int,
        "float": float,
        "bool": bool,
        "host": HostAddress,
        "ipv4": ipaddress.IPv4Address,
        "ipv6": ipaddress.IPv6Address,
        "ip": ipaddress.IPv4Address | ipaddress.IPv6Address,
    }
    return simple[described]


def _declaration(spec: Spec) -> Option:
    declared: Option = option(
        spec["default"],
        help=spec["help"],
        mutable=spec["mutable"],
        deprecated_names=spec["deprecated"],
        deprecated_for_removal=spec["for_removal"],
        deprecated_reason=spec["reason"],
        advanced=spec["advanced"],
        sample_default=spec["sample"],
        multi=spec["multi"],
        **spec["constraints"],
    )
    return declared


def schema_from_declarations(data: Declarations) -> tuple[Schema, list[Unchecked]]:
    """The anker schema of the declared options, and what it cannot check."""
    unchecked = [Unchecked(*item) for item in data["unchecked"]]
    sections: dict[str, Any] = data["sections"]
    root_annotations: dict[str, Any] = {}
    body: dict[str, Any] = {"__doc__": "Options declared by oslo.config namespaces."}
    for name, spec in sections.get(DEFAULT, {"options": {}})["options"].items():
        root_annotations[name] = hint_of(spec)
        body[name] = _declaration(spec)
    for section, declared in sections.items():
        if section == DEFAULT:
            continue
        if section in root_annotations:
            unchecked.append(
                Unchecked("?", section, "*", "the section has the name of a DEFAULT option")
            )
            continue
        options: dict[str, Spec] = declared["options"]
        group_body: dict[str, Any] = {name: _declaration(spec) for name, spec in options.items()}
        group_body["__annotations__"] = {name: hint_of(spec) for name, spec in options.items()}
        group_body["__doc__"] = declared["help"] or f"The [{section}] section."
        root_annotations[section] = type(f"Section_{section}", (Group,), group_body)
    body["__annotations__"] = root_annotations
    return schema_of(type("OsloConfig", (Config,), body)), unchecked


def cache_key(names: list[str], parts: list[str]) -> str:
    """A name for the declarations of ``names`` given ``parts`` (package versions)."""
    digest = hashlib.sha256(json.dumps([FORMAT, names, parts]).encode()).hexdigest()
    return digest[:32]


def cache_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "anker" / "oslo-config"


def cached(key: str, make: Callable[[], Declarations]) -> Declarations:
    """The declarations stored under ``key``, or ``make()``'s, stored for the next run.

    A cache that cannot be read or written is ignored: the declarations are made again.
    """
    path = cache_directory() / f"{key}.json"
    try:
        data: Declarations = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") == FORMAT:
            return data
    except (OSError, ValueError):
        pass
    data = make()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".anker-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(temporary, path)
    except OSError:
        pass
    return data
