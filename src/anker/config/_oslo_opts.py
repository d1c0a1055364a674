"""Converting oslo.config ``Opt`` objects into the plain declarations anker builds schemas from.

Each option becomes a JSON-able spec (:mod:`anker.config._declared`): its type (from the
``oslo_config.types`` object), constraints, default, deprecated names and groups,
deprecated-for-removal, mutable and secret. What anker cannot check is noted as an
:class:`~anker.config._declared.Unchecked` entry with its namespace and option.
"""

from __future__ import annotations

import warnings

from anker._typing import TYPE_CHECKING
from anker.config._declared import FORMAT, Unchecked, hint_of
from anker.config._kinds import BadValue
from anker.config._schema import DEFAULT, RESERVED
from anker.config._types import kind_for

if TYPE_CHECKING:
    from typing import Any

    from anker.config._declared import Declarations, Described, Spec
    from anker.config._oslo import Namespace

__all__ = ["AUTH_PLUGINS", "declarations_of"]

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
