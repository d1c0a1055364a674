"""The root of a service's configuration: loading, reloading, and asking where a value came from."""

from __future__ import annotations

import contextlib
import os
from _thread import allocate_lock  # `threading` costs 8 ms to import; a lock is all we need

from anker._typing import TYPE_CHECKING, TypeVar
from anker.config._kinds import Kind, OptionalKind, SecretKind
from anker.config._load import DEFAULT_ORIGIN, Inputs, Outcome, Unresolved, resolve
from anker.config._problems import ConfigError, Problem
from anker.config._schema import (
    DEFAULT,
    UNRESOLVED,
    Group,
    Schema,
    normalize_section,
    schema_of,
)
from anker.config._sources import Origin

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from typing import Any, Self

__all__ = ["Change", "Config", "ReloadResult"]

_STATE = "_anker_state"

C = TypeVar("C", bound="Config")


class Change:
    """One option whose value differs after a reload: typed ``old`` and ``new`` values."""

    __slots__ = ("new", "old", "option", "section")

    def __init__(self, section: str, option: str, old: object, new: object) -> None:
        self.section, self.option, self.old, self.new = section, option, old, new

    def __repr__(self) -> str:
        return f"Change([{self.section}] {self.option}: {self.old!r} -> {self.new!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        mine = (self.section, self.option, self.old, self.new)
        return mine == (other.section, other.option, other.old, other.new)

    __hash__ = None  # type: ignore[assignment]


class ReloadResult:
    """What a reload did: the mutable options it ``changed``, the immutable ones whose new
    value waits for a restart (``restart_required``), and the load's ``warnings``."""

    __slots__ = ("changed", "restart_required", "warnings")

    def __init__(
        self, changed: list[Change], restart_required: list[Change], warnings: list[Problem]
    ) -> None:
        self.changed = changed
        self.restart_required = restart_required
        self.warnings = warnings

    def __repr__(self) -> str:
        return f"ReloadResult(changed={self.changed!r}, restart_required={self.restart_required!r})"


class _State:
    __slots__ = ("held", "hooks", "inputs", "lock", "origins", "schema", "warnings")

    def __init__(self, schema: Schema, inputs: Inputs, outcome: Outcome) -> None:
        self.schema = schema
        self.inputs = inputs
        self.origins = outcome.origins
        self.warnings = tuple(p for p in outcome.problems if not p.is_error)
        self.hooks: list[Callable[[list[Change]], object]] = []
        #: (section, option) -> the value and origin it had before an override replaced it
        self.held: dict[tuple[str, str], tuple[object, Origin]] = {}
        self.lock = allocate_lock()


class Config(Group):
    """A service's whole configuration: ``[DEFAULT]`` options on the class itself, and one
    attribute per section, annotated with its :class:`Group`.

    ``class MyConfig(Config, foreign=("keystone_authtoken", "oslo_*"))`` names sections that
    other libraries read, which are then neither checked nor reported as unknown.

    The names ``load``, ``reload``, ``where``, ``on_change``, ``warnings``, ``values``,
    ``set_override``, ``clear_override`` and ``override`` are the API and cannot be options.

    .. versionadded:: 0.1
    """

    __anker_foreign__: tuple[str, ...] = ()

    def __init_subclass__(cls, foreign: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inherited = tuple(getattr(cls, "__anker_foreign__", ()))
        cls.__anker_foreign__ = inherited + tuple(foreign)

    @classmethod
    def load(
        cls,
        *,
        files: Iterable[str | os.PathLike[str]] = (),
        dirs: Iterable[str | os.PathLike[str]] = (),
        argv: Iterable[str] = (),
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        strict: bool = False,
        secrets: Callable[[str], str] | None = None,
        overrides: Mapping[str, object] | None = None,
        lazy_references: bool = False,
    ) -> Self:
        """Read every source, check every value, and return the configuration.

        ``files`` then ``dirs`` are read first, then the ``--config-file``/``--config-dir``
        arguments of ``argv`` in their order (see :mod:`anker.config` for the precedence).
        ``env_prefix`` enables ``<PREFIX>_<SECTION>__<OPTION>`` variables from ``environ``
        (default: ``os.environ``, read again on reload). ``strict`` makes unknown options and
        sections errors. ``secrets`` resolves ``${secret:NAME}`` references. ``overrides``
        (``{"section.option": value}``) win over everything, for tests and tools.
        ``lazy_references``: as in oslo.config, a ``$name`` that names no option is a warning
        when loading, and reading the option that holds it raises :class:`ConfigError`
        (by default it is an error when loading).

        Raises :class:`ConfigError` listing every error; warnings are logged to the
        ``anker.config`` logger and kept in :attr:`warnings`. ``-h`` or ``--help`` in
        ``argv`` prints the command-line options and exits (``SystemExit(0)``), as argparse.
        """
        argv = list(argv)
        schema = schema_of(cls)
        split = None
        if schema.command is not None:
            from anker.config._commands import split_argv

            split = split_argv(schema, argv)
            argv = split.levels[0].argv  # what the root reads again on reload
            if split.help is not None:
                from anker.config._help import print_help

                print_help(schema, env_prefix, split.help)
                raise SystemExit(0)
        elif "--help" in argv or "-h" in argv:
            from anker.config._help import print_help

            print_help(schema, env_prefix)
            raise SystemExit(0)
        paths = [(os.fspath(path), False) for path in files]
        paths += [(os.fspath(path), True) for path in dirs]
        inputs = Inputs(
            paths=paths,
            argv=argv,
            env_prefix=env_prefix,
            environ=environ,
            strict=strict,
            secrets=secrets,
            overrides=overrides or {},
            lazy_references=lazy_references,
        )
        outcome = resolve(schema, inputs)
        chosen = None
        if split is not None:
            from anker.config._commands import load_commands

            chosen, problems = load_commands(split, inputs)
            outcome.problems += split.problems + problems
        if outcome.errors:
            raise ConfigError(outcome.problems)
        _log(outcome.problems)
        built = _build(cls, schema, inputs, outcome)
        if chosen is not None:
            assert schema.command is not None
            built.__dict__[schema.command.attribute] = chosen
        return built

    def where(self, section: str, option: str) -> Origin:
        """Where the value of ``[section] option`` came from (``section`` may be ``DEFAULT``).

        ``str()`` of the answer reads like ``file /etc/nova/nova.conf:12``.
        """
        state = _state(self)
        found = state.schema.section(section)
        spec = found.options.get(option) if found else None
        if spec is None:
            raise KeyError(f"no option '{option}' in [{section}]")
        return state.origins.get(spec, DEFAULT_ORIGIN)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """The warnings of the last load or reload (unknown names, deprecated names, ...)."""
        return _state(self).warnings

    def values(self, *, reveal: bool = False) -> dict[str, dict[str, object]]:
        """Every value by section, as written in a config file (secrets masked, references
        shown as written), for dumps and debugging."""
        state = _state(self)
        dump: dict[str, dict[str, object]] = {}
        for section in state.schema.sections.values():
            holder = self if section.attribute is None else self.__dict__[section.attribute]
            shown: dict[str, object] = {}
            for name, spec in section.options.items():
                origin = state.origins.get(spec)
                if origin is not None and origin.reference is not None and not reveal:
                    shown[name] = origin.written if origin.written is not None else origin.reference
                elif name not in holder.__dict__:  # unresolved: as written (masked if secret)
                    shown[name] = holder.__dict__[UNRESOLVED][name].problem.value
                else:
                    shown[name] = _dumped(spec.kind, holder.__dict__[name], reveal)
            dump[section.name] = shown
        return dump

    def on_change(self, hook: Callable[[list[Change]], object]) -> Callable[[list[Change]], object]:
        """Call ``hook(changes)`` after each reload that changes mutable options.

        Usable as a decorator. A hook that raises is logged and does not stop the others.
        """
        _state(self).hooks.append(hook)
        return hook

    def reload(self) -> ReloadResult:
        """Read every source again and apply the changes to mutable options, atomically.

        The new configuration is checked in full first: if it has errors, nothing changes and
        :class:`ConfigError` is raised. Otherwise the mutable options take their new values
        all at once (a reader holding ``conf.database`` keeps a consistent snapshot), and
        changed immutable options are reported in ``restart_required``.
        """
        state = _state(self)
        with state.lock:
            outcome = resolve(state.schema, state.inputs)
            if outcome.errors:
                raise ConfigError(outcome.problems)
            _log(outcome.problems)
            changed, restart = _apply(self, state, outcome)
        for hook in list(state.hooks) if changed else ():
            try:
                hook(changed)
            except Exception:
                import logging

                logging.getLogger("anker.config").exception("config change hook %r failed", hook)
        return ReloadResult(changed, restart, list(state.warnings))

    # ------------------------------------------------------------------ overrides
    def set_override(self, name: str, value: object) -> None:
        """Give option ``name`` (``"section.option"``, or ``"option"`` in ``[DEFAULT]``)
        ``value`` until :meth:`clear_override`, whatever the files, environment and command
        line say: for tests and tools (oslo.config's ``set_override``).

        ``value`` is checked as a value from a file would be (a string is parsed with the
        option's type): a bad value or an unknown name raises :class:`ConfigError` and changes
        nothing. Unlike :meth:`reload`, immutable options change too, and no
        :meth:`on_change` hook runs. Later reloads keep the override.
        """
        self._set_overrides({**_state(self).inputs.overrides, name: value})

    def clear_override(self, name: str) -> None:
        """Drop the override of ``name`` (given here or to :meth:`load`): the option takes
        the value its sources give again. Nothing happens if ``name`` has no override."""
        overrides = dict(_state(self).inputs.overrides)
        if overrides.pop(name, _MISSING) is not _MISSING:
            self._set_overrides(overrides)

    @contextlib.contextmanager
    def override(self, values: Mapping[str, object]) -> Iterator[Self]:
        """Override several options for the ``with`` block, and put back exactly the
        overrides there were before it (oslo.config's test fixture)::

            with conf.override({"workers": 1, "database.pool_size": 2}):
                ...
        """
        before = dict(_state(self).inputs.overrides)
        self._set_overrides({**before, **values})
        try:
            yield self
        finally:
            self._set_overrides(before)

    def _set_overrides(self, overrides: Mapping[str, object]) -> None:
        state = _state(self)
        with state.lock:
            inputs = state.inputs.with_overrides(overrides)
            outcome = resolve(state.schema, inputs)  # an unknown name is an error there
            if outcome.errors:
                raise ConfigError(outcome.problems)
            before, after = set(state.inputs.overrides), set(overrides)
            for name in after - before:
                self._hold(_address(name))
            for name in before - after:
                self._give_back(_address(name), outcome)
            # only the options whose override changed: nothing else a source now says (a
            # pending immutable change, an edited file) is applied behind a reload's back
            _apply(self, state, outcome, only={_address(name) for name in before | after})
            state.inputs = inputs

    def _hold(self, address: tuple[str, str]) -> None:
        """Keep what an option holds before its first override, to give it back after."""
        state = _state(self)
        found = state.schema.section(address[0])
        spec = found.options.get(address[1]) if found else None
        if found is None or spec is None or address in state.held:
            return
        holder = self if found.attribute is None else self.__dict__[found.attribute]
        value = _held(holder, [address[1]])[address[1]]
        state.held[address] = (value, state.origins.get(spec, DEFAULT_ORIGIN))

    def _give_back(self, address: tuple[str, str], outcome: Outcome) -> None:
        """An immutable option whose override is cleared takes back the value it had: what
        its sources say now waits for a restart, as it would have without the override."""
        state = _state(self)
        held = state.held.pop(address, None)
        found = state.schema.section(address[0])
        spec = found.options.get(address[1]) if found else None
        if held is None or spec is None or spec.mutable:
            return
        outcome.values[address[0]][address[1]] = held[0]
        outcome.origins[spec] = held[1]


def _address(name: str) -> tuple[str, str]:
    section, dot, option = name.rpartition(".")
    return (normalize_section(section) if dot else DEFAULT, option)


_MISSING = object()


def _state(config: Config) -> _State:
    return config.__dict__[_STATE]  # type: ignore[no-any-return]


def _new_group(
    group: type[Group], values: dict[str, object], unresolved: dict[str, Unresolved] | None
) -> Group:
    instance = object.__new__(group)
    _fill(instance, values, unresolved)
    return instance


def _fill(
    holder: Group, values: dict[str, object], unresolved: dict[str, Unresolved] | None
) -> None:
    """Give ``holder`` its values; unresolved ones stay out, so reading them raises."""
    if unresolved:
        values = {name: value for name, value in values.items() if name not in unresolved}
        values[UNRESOLVED] = unresolved
    holder.__dict__.update(values)


def _held(holder: Group, names: Iterable[str]) -> dict[str, object]:
    """The values ``holder`` has now, with Unresolved ones in place."""
    unresolved = holder.__dict__.get(UNRESOLVED, {})
    return {name: unresolved.get(name) or holder.__dict__[name] for name in names}


def _build(cls: type[C], schema: Schema, inputs: Inputs, outcome: Outcome) -> C:
    values = outcome.values
    root = object.__new__(cls)
    unresolved = outcome.unresolved
    fields: dict[str, object] = {}
    for section in schema.sections.values():
        if section.attribute is not None:
            fields[section.attribute] = _new_group(
                section.group, values[section.name], unresolved.get(section.name)
            )
    fields[_STATE] = _State(schema, inputs, outcome)
    root.__dict__.update(fields)
    _fill(root, values[DEFAULT], unresolved.get(DEFAULT))
    return root


def _apply(
    root: Config, state: _State, outcome: Outcome, *, only: set[tuple[str, str]] | None = None
) -> tuple[list[Change], list[Change]]:
    """Give ``root`` the outcome's new values of mutable options, and return the changed
    immutable ones to report; with ``only`` (overrides), the new values of exactly those
    ``(section, option)``, mutable or not."""
    changed: list[Change] = []
    restart: list[Change] = []
    new_values = outcome.values
    updates: dict[str, object] = {}
    gone: Iterable[str] = ()  # [DEFAULT] options that a reload left unresolved
    origins = dict(state.origins)
    for section in state.schema.sections.values():
        holder = root if section.attribute is None else root.__dict__[section.attribute]
        merged = _held(holder, section.options)
        touched = False
        for name, spec in section.options.items():
            if only is not None and (section.name, name) not in only:
                continue
            old, new = merged[name], new_values[section.name][name]
            if old == new:
                origins[spec] = outcome.origins.get(spec, DEFAULT_ORIGIN)
                continue
            change = Change(section.name, name, old, new)
            if spec.mutable or only is not None:
                merged[name] = new
                origins[spec] = outcome.origins.get(spec, DEFAULT_ORIGIN)
                changed.append(change)
                touched = True
            else:
                restart.append(change)
        if not touched:
            continue
        unresolved = {n: v for n, v in merged.items() if isinstance(v, Unresolved)}
        if section.attribute is not None:
            updates[section.attribute] = _new_group(section.group, merged, unresolved)
            continue
        updates.update({n: v for n, v in merged.items() if n not in unresolved})
        updates[UNRESOLVED] = unresolved
        gone = unresolved.keys()
    # One dict update: another thread sees all of the new values or none of them.
    root.__dict__.update(updates)
    for name in gone:  # after the update: a reader sees the old value, then the error
        root.__dict__.pop(name, None)
    state.origins = origins
    state.warnings = tuple(p for p in outcome.problems if not p.is_error)
    if restart:
        import logging

        names = ", ".join(f"[{c.section}] {c.option}" for c in restart)
        logging.getLogger("anker.config").warning(
            "restart required to apply changed immutable options: %s", names
        )
    return changed, restart


def _log(problems: list[Problem]) -> None:
    warnings = [p for p in problems if not p.is_error]
    if not warnings:
        return
    import logging

    logger = logging.getLogger("anker.config")
    for problem in warnings:
        logger.warning("%s", problem)


def _dumped(kind: Kind | None, value: object, reveal: bool) -> object:
    assert kind is not None
    if value is None:
        return None
    if isinstance(kind, OptionalKind):
        return _dumped(kind.inner, value, reveal)
    if reveal and isinstance(kind, SecretKind):
        return kind.inner.to_native(value.reveal())  # type: ignore[attr-defined]
    return kind.to_native(value)
