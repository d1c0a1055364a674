"""Declaring options: typed attributes of :class:`Group` classes, and the schema built from them.

::

    class Database(Group):
        \"\"\"Database access.\"\"\"

        connection: Secret[str] = option(help="SQLAlchemy URL of the database.")
        max_pool_size: int = option(5, min=1, help="Connections kept open.")

    class NovaConfig(Config, foreign=("keystone_authtoken",)):
        debug: bool = option(False, mutable=True, help="Log at debug level.")
        database: Database  # the [database] section

The annotation is the option's type, so ``conf.database.max_pool_size`` is an ``int`` to mypy.
Options of the root class live in ``[DEFAULT]``; each attribute annotated with a
:class:`Group` subclass is a section named like the attribute. Annotations are resolved on
first use (so groups may be declared in any order); a declaration mistake raises ``TypeError``
naming the class and option.
"""

from __future__ import annotations

import sys
from types import ModuleType

from anker._typing import TYPE_CHECKING
from anker.config._kinds import BadValue, Kind, ListKind, OptionalKind
from anker.config._types import kind_for

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from anker.config._commands import CommandSlot

__all__ = ["DEFAULT", "MISSING", "Group", "Option", "Schema", "Section", "option", "schema_of"]

DEFAULT = "DEFAULT"


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: The default of an option that has none: it must be set (it is required).
MISSING: Any = _Missing()
NOT_READY: Any = object()
#: The instance attribute that holds the Unresolved values of a group (lazy_references).
UNRESOLVED = "_anker_unresolved"


class Option:
    """The declaration of one option (made by :func:`option`)."""

    __slots__ = (
        "advanced",
        "constraints",
        "default",
        "deprecated_for_removal",
        "deprecated_names",
        "deprecated_reason",
        "help",
        "kind",
        "multi",
        "mutable",
        "name",
        "positional",
        "ready_default",
        "sample_default",
        "section",
    )

    def __init__(
        self,
        default: object,
        help: str,
        *,
        mutable: bool,
        deprecated_names: Iterable[str],
        deprecated_for_removal: bool,
        deprecated_reason: str | None,
        advanced: bool,
        sample_default: str | None,
        multi: bool,
        constraints: dict[str, Any],
        positional: bool = False,
    ) -> None:
        self.default = default
        self.positional = positional
        self.help = help
        self.mutable = mutable
        self.deprecated_names = tuple(deprecated_names)
        self.deprecated_for_removal = deprecated_for_removal
        self.deprecated_reason = deprecated_reason
        self.advanced = advanced
        self.sample_default = sample_default
        self.multi = multi
        self.constraints = constraints
        self.name = ""  # set when its class is resolved
        self.section = ""
        self.kind: Kind | None = None
        # the default converted once, when the schema is built (NOT_READY: it needs $-substitution)
        self.ready_default: object = NOT_READY

    @property
    def required(self) -> bool:
        """Whether the option has no default, so a source must set it."""
        return self.default is MISSING

    @property
    def is_secret(self) -> bool:
        """Whether the value is a :class:`~anker.Secret` (masked in reports, samples and dumps)."""
        from anker.config._kinds import SecretKind, contains

        return self.kind is not None and contains(self.kind, SecretKind)

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        # Reached only when an instance holds no value for the option (a value in the
        # instance's dict wins over this non-data descriptor, so reads cost no more).
        if instance is None:
            return self
        unresolved = instance.__dict__.get(UNRESOLVED, {})
        if self.name in unresolved:
            from anker.config._problems import ConfigError

            raise ConfigError([unresolved[self.name].problem])
        return self

    def copy(self) -> Option:
        """A copy of this declaration, to bind to another class or name."""
        clone = Option.__new__(Option)
        for slot in Option.__slots__:
            setattr(clone, slot, getattr(self, slot))
        return clone

    def __repr__(self) -> str:
        return f"<option [{self.section}] {self.name}>"


def option(
    default: Any = MISSING,
    *,
    help: str = "",
    required: bool = False,
    mutable: bool = False,
    deprecated_names: Iterable[str] = (),
    deprecated_for_removal: bool = False,
    deprecated_reason: str | None = None,
    advanced: bool = False,
    sample_default: str | None = None,
    multi: bool = False,
    choices: Iterable[Any] | None = None,
    regex: str | None = None,
    max_length: int | None = None,
    min: Any = None,
    max: Any = None,
    schemes: Iterable[str] | None = None,
    positional: bool = False,
) -> Any:
    """Declare an option; the attribute's annotation gives its type.

    ``default``: the value when no source sets it; without one the option is required.
    ``required``: say so explicitly (it then takes no default). ``help``: one or more
    sentences for samples and docs. ``mutable``: :meth:`Config.reload`
    may change it while the service runs. ``deprecated_names``: earlier names, ``"old"`` (same
    section) or ``"group.old"`` (``"DEFAULT.old"`` for the DEFAULT section).
    ``deprecated_for_removal`` and ``deprecated_reason``: setting it draws a warning.
    ``advanced``: samples list it last. ``sample_default``: what samples show instead of the
    default (for defaults computed on the build machine). ``multi``: a repeated key gives all
    its values (``list[...]`` options only). Constraints: ``choices``, ``regex``,
    ``max_length`` (str), ``min``/``max`` (numbers, durations, sizes), ``schemes`` (URLs).
    ``positional``: on the command line, given without its ``--name`` (``svc run FILE``), in
    the order the positional options are declared; a ``list[...]`` one takes every argument
    left, so it comes last. Files and the environment set it by name as any other option.

    .. versionadded:: 0.1
    """
    given = (
        ("choices", choices),
        ("regex", regex),
        ("max_length", max_length),
        ("min", min),
        ("max", max),
        ("schemes", schemes),
    )
    constraints = {name: value for name, value in given if value is not None}
    if required and default is not MISSING:
        raise TypeError(f"a required option takes no default (got {default!r})")
    return Option(
        default,
        help,
        mutable=mutable,
        deprecated_names=deprecated_names,
        deprecated_for_removal=deprecated_for_removal,
        deprecated_reason=deprecated_reason,
        advanced=advanced,
        sample_default=sample_default,
        multi=multi,
        constraints=constraints,
        positional=positional,
    )


class Group:
    """A set of options; as a section of a :class:`~anker.config.Config`, one INI section.

    Instances are read-only snapshots: their values change only through
    :meth:`~anker.config.Config.reload`, which swaps in new snapshots.

    .. versionadded:: 0.1
    """

    __anker_declared__: dict[str, Option | type[Group] | object] = {}  # noqa: RUF012
    __anker_localns__: dict[str, object] = {}  # noqa: RUF012

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, Option | type[Group] | object] = {}
        for base in reversed(cls.__mro__[1:]):
            declared.update(base.__dict__.get("__anker_declared__", {}))
        # The class's own annotations (Python <= 3.13 keeps them in its __dict__).
        for name in cls.__dict__.get("__annotations__", {}):  # noqa: RUF063
            if name.startswith("_"):
                continue
            # The declaration stays a class attribute; an instance's value shadows it (an
            # Option is a non-data descriptor), so reads cost one instance-dict lookup.
            declared[name] = cls.__dict__.get(name, MISSING)
        cls.__anker_declared__ = declared
        cls.__anker_localns__ = _defining_scope()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(
            f"configuration values are read-only ({type(self).__qualname__}.{name}); "
            "change the sources and call reload()"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"configuration values are read-only ({name})")

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}"
            for name, value in self.__dict__.items()
            if not name.startswith("_") and not isinstance(value, Group)
        )
        return f"{type(self).__qualname__}({shown})"


class Section:
    """One section of a schema: its INI name, the attribute that holds it, its options."""

    __slots__ = (
        "attribute",
        "copied_defaults",
        "deferred_defaults",
        "group",
        "help",
        "name",
        "options",
        "ready_defaults",
    )

    def __init__(self, name: str, attribute: str | None, group: type[Group]) -> None:
        self.name = name
        self.attribute = attribute  # None for DEFAULT, whose options sit on the root
        self.group = group
        self.options: dict[str, Option] = {}
        self.help = _first_paragraph(group.__doc__)
        # Defaults by how a load takes them: shared as they are (immutable values), copied
        # (lists, dicts), or worked out each time (required, or with $references).
        self.ready_defaults: dict[str, object] = {}
        self.copied_defaults: list[Option] = []
        self.deferred_defaults: list[Option] = []

    def sort_defaults(self) -> None:
        for option in self.options.values():
            ready = option.ready_default
            if ready is NOT_READY or ready is MISSING:
                self.deferred_defaults.append(option)
            elif isinstance(ready, list | dict):
                self.copied_defaults.append(option)
            else:
                self.ready_defaults[option.name] = ready


class Schema:
    """Every section and option a :class:`~anker.config.Config` class declares."""

    __slots__ = ("command", "deprecated", "foreign", "root", "sections")

    def __init__(self, root: type[Group], foreign: tuple[str, ...]) -> None:
        self.root = root
        self.foreign = foreign
        self.sections: dict[str, Section] = {}  # by normalized name
        # the sub-commands its command line chooses from, if it declares any
        self.command: CommandSlot | None = None
        # (normalized section, key) of a deprecated name -> the option it now is
        self.deprecated: dict[tuple[str, str], Option] = {}

    def section(self, name: str) -> Section | None:
        return self.sections.get(normalize_section(name))

    def options(self) -> Iterable[Option]:
        for section in self.sections.values():
            yield from section.options.values()

    def is_flag(self, section: str, key: str) -> bool | None:
        """Whether option ``key`` of ``section`` (or a deprecated name of one) is a boolean,
        which the command line gives without a value; None if there is no such option."""
        from anker.config._kinds import BoolKind

        found = self.section(section)
        option = found.options.get(key) if found else None
        if option is None:
            option = self.deprecated.get((normalize_section(section), key))
        if option is None:
            return None
        kind = option.kind.inner if isinstance(option.kind, OptionalKind) else option.kind
        return isinstance(kind, BoolKind)

    def is_foreign(self, section: str) -> bool:
        from fnmatch import fnmatchcase

        name = normalize_section(section)
        return any(fnmatchcase(name, normalize_section(pattern)) for pattern in self.foreign)


def normalize_section(name: str) -> str:
    """Section names match case-insensitively, as in oslo.config (``DEFAULT`` is kept)."""
    return name if name == DEFAULT else name.lower()


RESERVED = frozenset(
    {
        "load",
        "reload",
        "where",
        "on_change",
        "warnings",
        "values",
        "set_override",
        "clear_override",
        "override",
    }
)


def schema_of(root: type[Group]) -> Schema:
    """The schema of a Config class, built (and checked) on first use and then cached."""
    cached = root.__dict__.get("__anker_schema__")
    if isinstance(cached, Schema):
        return cached
    from anker.config._commands import Command, Subcommand, slot_of

    schema = Schema(root, tuple(getattr(root, "__anker_foreign__", ())))
    hints = _resolve_annotations(root)
    default = Section(DEFAULT, None, root)
    schema.sections[DEFAULT] = default
    reserved: frozenset[str] = getattr(root, "__anker_reserved__", RESERVED)
    for name, declared in root.__anker_declared__.items():
        hint = hints[name]
        if name in reserved:
            raise TypeError(f"{root.__qualname__}.{name}: '{name}' is reserved by {_api(root)}")
        plain = isinstance(hint, type) and not issubclass(hint, Command)  # most options
        slot = (
            None
            if plain and not isinstance(declared, Subcommand)
            else slot_of(root, name, declared, hint)
        )
        if slot is not None:
            if schema.command is not None:
                raise TypeError(
                    f"{root.__qualname__}.{name}: one sub-command per command line"
                    f" ({schema.command.attribute} is one already)"
                )
            schema.command = slot
        elif isinstance(hint, type) and issubclass(hint, Group):
            if reserved is not RESERVED:  # a sub-command: the command line is all it reads
                raise TypeError(
                    f"{root.__qualname__}.{name}: a sub-command has no sections; declare"
                    " its options on it"
                )
            section = Section(name, name, hint)
            schema.sections[normalize_section(name)] = section
            _add_options(section, hint, _resolve_annotations(hint))
        else:
            default.options[name] = _make_option(root, DEFAULT, name, declared, hint)
    if schema.command is not None and any(o.positional for o in schema.options()):
        raise TypeError(
            f"{root.__qualname__}: positional options and sub-commands do not mix; declare"
            f" the positional options on the sub-commands"
        )
    for option in schema.options():
        for old in option.deprecated_names:
            old_section, dot, old_name = old.rpartition(".")
            key = (
                normalize_section(old_section) if dot else normalize_section(option.section),
                old_name,
            )
            schema.deprecated[key] = option
    for section in schema.sections.values():
        section.sort_defaults()
    type.__setattr__(root, "__anker_schema__", schema)
    return schema


def _api(root: type) -> str:
    """The class whose API reserves names: Config, or Command for a sub-command."""
    return "Config" if getattr(root, "__anker_reserved__", RESERVED) is RESERVED else "Command"


def _add_options(section: Section, group: type[Group], hints: dict[str, Any]) -> None:
    for name, declared in group.__anker_declared__.items():
        hint = hints[name]
        if isinstance(hint, type) and issubclass(hint, Group):
            raise TypeError(
                f"{group.__qualname__}.{name}: sections do not nest; "
                "declare it on the Config class instead"
            )
        section.options[name] = _make_option(group, section.name, name, declared, hint)


def _make_option(owner: type, section: str, name: str, declared: object, hint: object) -> Option:
    spec = declared if isinstance(declared, Option) else option(declared)
    if spec.name:  # bound already (a group class used twice, or by another Config): copy it
        spec = spec.copy()
    spec.name, spec.section = name, section
    try:
        spec.kind = _kind(hint, spec.constraints)
    except TypeError as exc:
        raise TypeError(f"{owner.__qualname__}.{name}: {exc}") from None
    if spec.multi and not isinstance(spec.kind, ListKind | OptionalKind):
        raise TypeError(f"{owner.__qualname__}.{name}: multi=True needs a list[...] type")
    default = spec.default
    spec.ready_default = NOT_READY
    if default is None or default is MISSING:
        spec.ready_default = default
    elif not (isinstance(default, str) and "$" in default):
        try:
            spec.ready_default = spec.kind.convert(default)
        except BadValue as exc:
            raise TypeError(
                f"{owner.__qualname__}.{name}: the default {default!r} does not fit: {exc}"
            ) from None
    return spec


_KINDS: dict[object, Kind] = {}


def _kind(hint: object, constraints: dict[str, Any]) -> Kind:
    """The Kind of an annotation and constraints; kinds are immutable, so alike ones are shared."""
    try:
        key = (hint, *((k, _frozen(v)) for k, v in constraints.items())) if constraints else hint
        found = _KINDS.get(key)
    except TypeError:  # something unhashable: build it afresh
        return kind_for(hint, constraints)
    if found is None:
        found = _KINDS[key] = kind_for(hint, constraints)
    return found


def _frozen(value: object) -> object:
    return tuple(value) if isinstance(value, list | set | tuple) else value


def _resolve_annotations(cls: type) -> dict[str, Any]:
    """Evaluate the annotations of ``cls`` and its bases in their modules' namespaces."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        annotations = klass.__dict__.get("__annotations__", {})  # noqa: RUF063
        if not annotations:
            continue
        namespace: dict[str, Any] | None = None
        for name, annotation in annotations.items():
            if name.startswith("_"):
                continue
            hints[name] = annotation
            if not isinstance(annotation, str):
                continue
            if namespace is None:
                module = sys.modules.get(klass.__module__)
                namespace = {
                    **(vars(module) if module else {}),
                    **klass.__dict__.get("__anker_localns__", {}),
                    **vars(klass),
                }
            try:
                hints[name] = eval(annotation, namespace)
            except Exception as exc:
                raise TypeError(
                    f"{klass.__qualname__}.{name}: cannot resolve the annotation "
                    f"{annotation!r}: {exc}"
                ) from None
    return hints


def _defining_scope() -> dict[str, object]:
    """The local names of the function that defines a Group class, if a function does.

    Annotations are strings under ``from __future__ import annotations``; a group declared
    inside a function (a test, a factory) may name classes that only that function knows.
    """
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name == "__init_subclass__":
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or frame.f_code.co_name == "<module>":
        return {}
    # Keep only what an annotation can name (classes, modules, aliases), not every local.
    return {
        name: value
        for name, value in frame.f_locals.items()
        if isinstance(value, type | ModuleType) or hasattr(value, "__origin__")
    }


def _first_paragraph(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    paragraph: list[str] = []
    for line in (doc or "").strip().splitlines():
        if not line.strip():
            break
        paragraph.append(line.strip())
    return " ".join(paragraph)
