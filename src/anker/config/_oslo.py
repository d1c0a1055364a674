"""oslo.config option declarations as an anker schema.

OpenStack packages publish their options through ``oslo.config.opts`` entry points (the ones
``oslo-config-generator`` and ``oslo-config-validator`` read): each names a function that
returns ``(group, [Opt, ...])`` pairs. :func:`load_namespaces` calls them and
:func:`schema_from_namespaces` turns what they return into a :class:`Schema` that anker's
loader checks files against: types, choices, ranges, defaults, deprecated names and groups,
deprecated-for-removal, mutable and secret.

What a declaration says and anker cannot check is returned as :class:`Unchecked` entries, one
per option and detail, so a caller can list it; nothing is dropped silently.

oslo.config is imported only here and in :mod:`anker.config._oslo_opts` (on a cache miss:
:func:`declarations_for`), and these modules only by ``anker config ... --namespace``.
"""

from __future__ import annotations

import difflib
import warnings
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version

from anker._typing import TYPE_CHECKING
from anker.config._declared import Unchecked, cache_key, cached, schema_from_declarations
from anker.config._oslo_opts import declarations_of
from anker.config._schema import DEFAULT

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from anker.config._declared import Declarations
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
