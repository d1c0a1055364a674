"""oslo.config option declarations as an anker schema.

OpenStack packages publish their options through ``oslo.config.opts`` entry points (the ones
``oslo-config-generator`` and ``oslo-config-validator`` read): each names a function that
returns ``(group, [Opt, ...])`` pairs. :func:`load_namespaces` calls them and
:func:`schema_from_namespaces` turns what they return into a :class:`Schema` that anker's
loader checks files against: types, choices, ranges, defaults, deprecated names and groups,
deprecated-for-removal, mutable and secret.

What a declaration says and anker cannot check is returned as :class:`Unchecked` entries, one
per option and detail, so a caller can list it; nothing is dropped silently.

oslo.config is imported here only, and this module only by ``anker config ... --namespace``.
"""

from __future__ import annotations

import difflib
import warnings
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version

from anker._typing import TYPE_CHECKING
from anker.config._declared import (
    FORMAT,
    Unchecked,
    cache_key,
    cached,
    hint_of,
    schema_from_declarations,
)
from anker.config._kinds import BadValue
from anker.config._schema import DEFAULT, RESERVED
from anker.config._types import kind_for

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from anker.config._declared import Declarations, Described, Spec
    from anker.config._schema import Schema

__all__ = [
    "ENTRY_POINT_GROUP",
    "Namespace",
    "NamespaceError",
    "Unchecked",
    "declarations_for",
    "declarations_of",
    "load_namespaces",
    "namespaces_in_generator_config",
    "schema_from_namespaces",
]

ENTRY_POINT_GROUP = "oslo.config.opts"
DEFAULTS_GROUP = "oslo.config.opts.defaults"
#: keystoneauth1's own plugins, whose options a section with ``auth_type`` may hold.
AUTH_PLUGINS = (
    "password",
    "v3password",
    "token",
    "v3token",
    "v3applicationcredential",
    "admin_token",
    "none",
)


class NamespaceError(Exception):
    """A namespace that cannot be loaded; the message names it and says why."""


class Namespace:
    """The option declarations one namespace publishes: (section, help, opts) in order."""

    __slots__ = ("groups", "name")

    def __init__(self, name: str, groups: list[tuple[str, str, list[Any]]]) -> None:
        self.name = name
        self.groups = groups


def declarations_for(names: Iterable[str], *, cache: bool = True) -> Declarations:
    """The declarations of the named namespaces, from the cache when the packages that
    declare them (and oslo.config, keystoneauth1, anker) are the same versions as when they
    were cached; raises NamespaceError."""
    wanted = list(dict.fromkeys(names))
    found = _entry_points(wanted)

    def make() -> Declarations:
        return declarations_of(load_namespaces(wanted, found))

    if not cache:
        return make()
    parts = [f"{name}={found[name].value}@{_version_of(found[name])}" for name in wanted]
    for package in ("oslo.config", "keystoneauth1", "anker"):
        try:
            parts.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            parts.append(f"{package} absent")
    return cached(cache_key(wanted, parts), make)


def _version_of(entry: EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "?"


def _entry_points(names: list[str]) -> dict[str, EntryPoint]:
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name in names:
        if name not in found:
            close = difflib.get_close_matches(name, list(found), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            count = f"{len(found)} are installed" if found else "none are installed"
            raise NamespaceError(
                f"no oslo.config namespace named '{name}' ({count}{hint}); "
                "install the package that declares it"
            )
    return found


def load_namespaces(
    names: Iterable[str], found: dict[str, EntryPoint] | None = None
) -> list[Namespace]:
    """Call the ``oslo.config.opts`` entry point of each name; raises NamespaceError."""
    wanted = list(dict.fromkeys(names))
    found = found if found is not None else _entry_points(wanted)
    try:
        import oslo_config  # noqa: F401
    except ImportError as exc:
        raise NamespaceError(
            f"reading oslo.config namespaces needs oslo.config ({exc}); pip install "
            "'anker[openstack]' into the environment where the service is installed"
        ) from exc
    # As oslo-config-generator does: services first set the defaults they want in the
    # libraries they use (nova's set_lib_defaults), so the defaults are the service's.
    updaters = {ep.name: ep for ep in entry_points(group=DEFAULTS_GROUP) if ep.name in wanted}
    for name, updater in updaters.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                updater.load()()
        except Exception as exc:
            raise NamespaceError(
                f"the defaults of namespace '{name}' ({updater.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    loaded: list[Namespace] = []
    for name in wanted:
        entry = found[name]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                groups = list(entry.load()())
        except Exception as exc:
            raise NamespaceError(
                f"the namespace '{name}' ({entry.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        loaded.append(Namespace(name, [_group(name, item) for item in groups]))
    return loaded


def _group(namespace: str, item: Any) -> tuple[str, str, list[Any]]:
    group: Any
    opts: Any
    try:
        group, opts = item
    except (TypeError, ValueError):
        raise NamespaceError(
            f"the namespace '{namespace}' returned {item!r}, not a (group, options) pair"
        ) from None
    if group is None:
        return DEFAULT, "", list(opts)
    if isinstance(group, str):
        return group, "", list(opts)
    return str(group.name), str(getattr(group, "help", "") or ""), list(opts)


def namespaces_in_generator_config(path: str) -> list[str]:
    """The ``namespace =`` values of an ``oslo-config-generator --config-file`` file."""
    from anker.config._sources import read_file

    parsed = read_file(path)
    if errors := [p for p in parsed.problems if p.is_error]:
        raise NamespaceError(str(errors[0]))
    names: list[str] = []
    for entry in parsed.entries:
        if entry.key == "namespace":
            values = entry.value if isinstance(entry.value, list) else [entry.value]
            names += [str(value).strip() for value in values if str(value).strip()]
    if not names:
        raise NamespaceError(f"{path} names no namespace (no 'namespace = ...' line)")
    return names


def schema_from_namespaces(namespaces: list[Namespace]) -> tuple[Schema, list[Unchecked]]:
    """An anker schema for every option the namespaces declare, and what it cannot check."""
    return schema_from_declarations(declarations_of(namespaces))


def declarations_of(namespaces: list[Namespace]) -> Declarations:
    """What the namespaces declare, as plain data (JSON), with what anker cannot check."""
    builder = _Builder()
    for namespace in namespaces:
        for section, help_text, opts in namespace.groups:
            for opt in opts:
                builder.add(namespace.name, section, help_text, opt)
    builder.add_auth_plugins()
    builder.check_references()
    return {
        "format": FORMAT,
        "sections": {
            section: {"help": help_text, "options": {n: e[2] for n, e in options.items()}}
            for section, (help_text, options) in builder.sections.items()
        },
        "unchecked": [[u.namespace, u.section, u.option, u.detail] for u in builder.unchecked],
    }


class _Builder:
    def __init__(self) -> None:
        self.unchecked: list[Unchecked] = []
        # section -> (help, {option name: (namespace, opt, spec)})
        self.sections: dict[str, tuple[str, dict[str, tuple[str, Any, Spec]]]] = {}
        self.lowered: dict[str, str] = {}  # sections match case-insensitively

    def note(self, namespace: str, section: str, name: str, detail: str) -> None:
        self.unchecked.append(Unchecked(namespace, section, name, detail))

    def add(self, namespace: str, section: str, help_text: str, opt: Any) -> None:
        name = str(getattr(opt, "dest", None) or getattr(opt, "name", "?"))
        section = self.lowered.setdefault(
            section if section == DEFAULT else section.lower(), section
        )
        if section != DEFAULT and (section in RESERVED or section.startswith("_")):
            self.note(namespace, section, name, "the section's name cannot be an anker section")
            return
        if name.startswith("_") or (section == DEFAULT and name in RESERVED):
            self.note(namespace, section, name, "the option's name cannot be an anker option")
            return
        if type(opt).__name__ in ("SubCommandOpt", "_ConfigFileOpt", "_ConfigDirOpt"):
            self.note(namespace, section, name, "a command-line-only option")
            return
        _, options = self.sections.setdefault(section, (help_text, {}))
        if name in options:
            first = options[name][2]
            try:
                again = _described(getattr(opt, "type", None), lambda detail: None)
            except Exception:
                again = None
            if _same(options[name][1], opt) or again == (first["type"], first["constraints"]):
                return  # the same checks (keystoneauth plugins share their options)
            self.note(
                namespace,
                section,
                name,
                f"declared again, differently (the declaration of '{options[name][0]}' is used)",
            )
            return
        try:
            spec = self.declare(namespace, section, name, opt)
        except Exception as exc:  # an oslo type anker has not met, an odd default
            self.note(namespace, section, name, f"cannot be converted ({exc}); not checked")
            return
        options[name] = (namespace, opt, spec)

    def declare(self, namespace: str, section: str, name: str, opt: Any) -> Spec:
        def note(detail: str) -> None:
            self.note(namespace, section, name, detail)

        multi = bool(getattr(opt, "multi", False))
        described, constraints = _described(getattr(opt, "type", None), note)
        if multi:
            described = ["list", described]
        default = _plain(getattr(opt, "default", None))
        spec: Spec = {
            "type": described,
            "secret": bool(getattr(opt, "secret", False)),
            "optional": default is None or described != "bool",
            "default": default,
            "constraints": constraints,
            "multi": multi,
        }
        if getattr(opt, "required", False):
            note("required: not checked (oslo checks it when the service reads it)")
        if default is not None and not (isinstance(default, str) and "$" in default):
            # ($references are checked once every option is known: check_references)
            try:
                kind_for(hint_of(spec), constraints).convert(default)
            except BadValue:
                note(f"the default {default!r} does not fit its own type; taken as unset")
                spec["default"], spec["optional"] = None, True
        kind_for(hint_of(spec), constraints)  # raises TypeError now if it cannot be built
        deprecated: list[str] = []
        for old in getattr(opt, "deprecated_opts", None) or ():
            old_name = getattr(old, "name", None) or name
            old_group = getattr(old, "group", None) or section
            old_name = old_name.replace("-", "_")
            if old_group == section and old_name == name:
                continue
            deprecated.append(old_name if old_group == section else f"{old_group}.{old_name}")
        reason = " ".join(str(getattr(opt, "deprecated_reason", None) or "").split())
        since = getattr(opt, "deprecated_since", None)
        if since and reason:
            reason = f"{reason} (since {since})"
        sample = getattr(opt, "sample_default", None)
        spec.update(
            help=str(getattr(opt, "help", "") or ""),
            mutable=bool(getattr(opt, "mutable", False)),
            deprecated=deprecated,
            for_removal=bool(getattr(opt, "deprecated_for_removal", False)),
            reason=reason or None,
            advanced=bool(getattr(opt, "advanced", False)),
            sample=None if sample is None else str(sample),
        )
        return spec

    def check_references(self) -> None:
        """Defaults that name an undeclared option (``$pybasedir``) are taken as unset."""
        import re

        declared = self.sections.get(DEFAULT, ("", {}))[1]
        for section, (_, options) in self.sections.items():
            for name, (namespace, _, spec) in options.items():
                default = spec["default"]
                if not (isinstance(default, str) and "$" in default):
                    continue
                for reference in re.findall(r"\$\{?([A-Za-z_][\w.]*)", default):
                    group, dot, key = reference.rpartition(".")
                    if dot:
                        target = self.lowered.get(group.lower(), group)
                        known = key in self.sections.get(target, ("", {}))[1]
                    else:
                        known = key in options or key in declared
                    if not known:
                        self.note(
                            namespace,
                            section,
                            name,
                            f"the default {default!r} names an undeclared option; taken as unset",
                        )
                        spec["default"], spec["optional"] = None, True
                        break

    def add_auth_plugins(self) -> None:
        """Sections that load a keystoneauth plugin (``auth_type``) take its options too.

        A service reads them only once it knows the plugin (keystonemiddleware's
        ``[keystone_authtoken]`` declares ``auth_type`` alone); the options of keystoneauth's
        own plugins are added, as services that declare them all do (nova's ``[neutron]``).
        """
        wanted = [
            section
            for section, (_, options) in self.sections.items()
            if "auth_type" in options and "auth_section" in options
        ]
        if not wanted:
            return
        try:
            from keystoneauth1 import loading
        except ImportError:
            return
        for plugin in AUTH_PLUGINS:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    opts = loading.get_auth_plugin_conf_options(plugin)
            except Exception:  # a plugin this keystoneauth1 does not ship
                continue
            for section in wanted:
                for opt in opts:
                    self.add(f"keystoneauth1 plugin {plugin}", section, "", opt)


def _plain(value: object) -> object:
    """A default as JSON holds it (the cache), or its text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


def _same(first: Any, second: Any) -> bool:
    try:
        return bool(first == second)
    except Exception:
        return False


def _described(oslo_type: Any, note: Any) -> tuple[Described, dict[str, Any]]:  # noqa: PLR0911, PLR0912
    """The type (as :func:`hint_of` reads it) and constraints for an oslo.config type."""
    from oslo_config import types

    if oslo_type is None or oslo_type is str:
        return "str", {}
    if oslo_type in (int, float, bool):
        return str(oslo_type.__name__), {}
    if isinstance(oslo_type, types.Boolean):
        return "bool", {}
    if isinstance(oslo_type, types.Integer):  # Port too
        constraints = _bounds(oslo_type)
        if oslo_type.choices is not None:
            choices = [c for c in oslo_type.choices if isinstance(c, int)]
            if len(choices) < len(oslo_type.choices) - (None in oslo_type.choices):
                note("a choice that is not an integer is not accepted")
            constraints["choices"] = choices
        return "int", constraints
    if isinstance(oslo_type, types.Float):
        if oslo_type.choices is not None:
            note(f"choices {list(oslo_type.choices)} not checked (only the range)")
        return "float", _bounds(oslo_type)
    if isinstance(oslo_type, types.HostDomain):
        note("checked as a string (oslo checks a host name that may hold '_', or an address)")
        return "str", {}
    if isinstance(oslo_type, types.HostAddress | types.Hostname):
        return "host", {}
    if isinstance(oslo_type, types.IPAddress):
        checker = getattr(oslo_type.version_checker, "__name__", "")
        if checker.endswith("ipv4"):
            return "ipv4", {}
        if checker.endswith("ipv6"):
            return "ipv6", {}
        return "ip", {}
    if isinstance(oslo_type, types.URI):
        note("checked as a string (oslo checks it is a URI, its scheme and length)")
        return "str", {}
    if isinstance(oslo_type, types.String):
        return "str", _string_constraints(oslo_type, note)
    if isinstance(oslo_type, types.List):
        if oslo_type.bounds:
            note("a list in [brackets]: items checked as strings")
            return ["list", "str"], {}
        item, constraints = _described(oslo_type.item_type, note)
        return ["list", item], constraints
    if isinstance(oslo_type, types.Dict):
        if oslo_type.bounds or oslo_type.key_value_separator != ":":
            note("a dict with brackets or another separator: checked as a string")
            return "str", {}
        value, constraints = _described(oslo_type.value_type, note)
        return ["dict", value], constraints
    name = getattr(oslo_type, "type_name", None) or getattr(oslo_type, "__name__", None)
    note(f"its type ({name or type(oslo_type).__name__}) is checked as a string")
    return "str", {}


def _bounds(oslo_type: Any) -> dict[str, Any]:
    found = {"min": oslo_type.min, "max": oslo_type.max}
    return {name: value for name, value in found.items() if value is not None}


def _string_constraints(oslo_type: Any, note: Any) -> dict[str, Any]:
    constraints: dict[str, Any] = {}
    if oslo_type.choices is not None:
        choices = [c for c in oslo_type.choices if isinstance(c, str)]
        if oslo_type.ignore_case:
            note(f"choices {choices} matched ignoring case by oslo: not checked")
        else:
            # a None choice means 'may be unset', as every option here may be
            if len(choices) < len(oslo_type.choices) - (None in oslo_type.choices):
                note("a choice that is not a string is not accepted")
            constraints["choices"] = choices
    if oslo_type.regex is not None:
        if oslo_type.ignore_case:
            note("a regex matched ignoring case by oslo: not checked")
        else:
            # oslo searches (re.search); anker matches the whole value
            constraints["regex"] = f"(?s:.*?)(?:{oslo_type.regex.pattern})(?s:.*)"
    if oslo_type.max_length:
        constraints["max_length"] = oslo_type.max_length
    if oslo_type.quotes:
        note("quotes around the value are not stripped")
    return constraints
