"""Turning sources into checked values: precedence, deprecated names, unknown names,
interpolation, references and type checks, with every problem collected before failing."""

from __future__ import annotations

import os

from anker._typing import TYPE_CHECKING
from anker.config._inputs import Inputs, positional_options
from anker.config._interpolate import (
    Budget,
    Substitution,
    Undeclared,
    fetch_reference,
    has_reference,
    substitute,
)
from anker.config._kinds import BadValue, BoolKind, Kind, OptionalKind
from anker.config._problems import ERROR, WARNING, Problem
from anker.config._schema import DEFAULT, MISSING, NOT_READY, Option, Schema, normalize_section
from anker.config._sources import (
    Origin,
    argv_assignments,
    environment_assignments,
    expand_paths,
    read_file,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["Inputs", "Outcome", "Unresolved", "env_name", "resolve"]

# Precedence ranks of the layers, lowest first.
FILE, ENV, CLI, OVERRIDE = range(4)
# Problems that strict mode turns into errors.
STRICT_CODES = frozenset(
    {
        "unknown-option",
        "unknown-section",
        "unknown-env",
        "bom",
        "duplicate-section",
        "unclosed-quote",
    }
)
MAX_NESTING = 32  # $a -> $b -> ... chains; deeper is a mistake (and would exhaust the stack)
MAX_EXPANDED = 16 * 1024 * 1024  # characters substitution may produce in one load
#: The origin of every value that no source set.
DEFAULT_ORIGIN = Origin("default")


class Unresolved:
    """The value of an option whose ``$name`` names no option, loaded with
    ``lazy_references``: reading the option raises ``problem`` as a ConfigError."""

    __slots__ = ("problem",)

    def __init__(self, problem: Problem) -> None:
        self.problem = problem

    def __repr__(self) -> str:
        return f"<unresolved: {self.problem.message}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unresolved) and other.problem.message == self.problem.message

    def __hash__(self) -> int:
        return hash(self.problem.message)


class Outcome:
    """Checked values by option, where each came from, and every problem found."""

    __slots__ = ("files", "origins", "problems", "unresolved", "values")

    def __init__(self) -> None:
        # values[section name][option name]; an option missing from ``origins`` has its default
        self.values: dict[str, dict[str, object]] = {}
        # the Unresolved values by section, name (lazy_references only)
        self.unresolved: dict[str, dict[str, Unresolved]] = {}
        self.origins: dict[Option, Origin] = {}
        self.problems: list[Problem] = []
        self.files: list[str] = []

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]


class _Candidate:
    __slots__ = ("deprecated", "origin", "rank", "value")

    def __init__(self, value: object, origin: Origin, rank: int, deprecated: bool) -> None:
        self.value, self.origin, self.rank, self.deprecated = value, origin, rank, deprecated


class _Resolver:
    def __init__(self, schema: Schema, inputs: Inputs) -> None:
        self.schema = schema
        self.inputs = inputs
        self.environ: Mapping[str, str] = os.environ if inputs.environ is None else inputs.environ
        self.outcome = Outcome()
        self.problems = self.outcome.problems
        self.candidates: dict[Option, list[_Candidate]] = {}
        self.raw: dict[Option, tuple[object, Origin]] = {}
        self.resolving: set[Option] = set()
        self.failed: set[Option] = set()
        self.sensitive: set[Option] = set()  # not Secret, but holding secret material
        self.budget = Budget(MAX_EXPANDED)

    # ------------------------------------------------------------------ gathering
    def gather(self) -> None:
        paths, cli = argv_assignments(
            self.inputs.argv, self.schema.is_flag, self.problems, positional_options(self.schema)
        )
        for path in expand_paths([*self.inputs.paths, *paths], self.problems):
            self._gather_file(path)
        if self.inputs.env_prefix:
            for entry, variable, explicit in environment_assignments(
                self.environ, self.inputs.env_prefix
            ):
                origin = Origin("env", variable, section=entry.section, name=entry.key)
                self._add(entry.section, entry.key, entry.value, origin, ENV, report=explicit)
        for entry, argument in cli:
            origin = Origin("cli", argument, section=entry.section, name=entry.key)
            self._add(entry.section, entry.key, entry.value, origin, CLI, report=True)
        for dotted, value in self.inputs.overrides.items():
            section, dot, key = dotted.rpartition(".")
            origin = Origin("override", dotted, section=section or DEFAULT, name=key)
            self._add(section if dot else DEFAULT, key, value, origin, OVERRIDE, report=True)

    def _gather_file(self, path: str) -> None:
        parsed = read_file(path)
        self.outcome.files.append(path)
        self.problems.extend(parsed.problems)
        reported: set[str] = set()
        for entry in parsed.entries:
            origin = Origin(
                "file",
                f"{path}:{entry.line}" if entry.line else path,
                file=path,
                line=entry.line,
                section=entry.section,
                name=entry.key,
            )
            section = normalize_section(entry.section)
            if (
                self.schema.section(section) is None
                and (section, entry.key) not in self.schema.deprecated
            ):
                if self.schema.is_foreign(section) or section in reported:
                    continue
                reported.add(section)
                self.problems.append(self._unknown_section(entry.section, path, parsed.sections))
                continue
            self._add(entry.section, entry.key, entry.value, origin, FILE, report=True)

    def _add(
        self, section: str, key: str, value: object, origin: Origin, rank: int, *, report: bool
    ) -> None:
        found = self.schema.section(section)
        option = found.options.get(key) if found else None
        deprecated = False
        if option is None:
            option = self.schema.deprecated.get((normalize_section(section), key))
            deprecated = option is not None
        if option is None:
            if report and not (found is None and self.schema.is_foreign(section)):
                self.problems.append(self._unknown_option(section, key, origin, rank))
            return
        self.candidates.setdefault(option, []).append(_Candidate(value, origin, rank, deprecated))

    # ------------------------------------------------------------------ unknown names
    def _unknown_section(self, name: str, path: str, headers: dict[str, int]) -> Problem:
        known = [s.name for s in self.schema.sections.values()]
        suggestion = _closest(normalize_section(name), known)
        hint = f"; did you mean [{suggestion}]?" if suggestion else ""
        return Problem(
            "unknown-section",
            f"unknown section [{name}]{hint}",
            severity=WARNING,
            file=path,
            line=headers.get(name),
            section=name,
            suggestion=suggestion,
        )

    def _unknown_option(self, section: str, key: str, origin: Origin, rank: int) -> Problem:
        found = self.schema.section(section)
        where = f"[{found.name if found else section}]"
        suggestion = None
        if found is not None:
            suggestion = _closest(key, list(found.options))
        hint = f"; did you mean '{suggestion}'?" if suggestion else ""
        if suggestion is None:
            elsewhere = [s.name for s in self.schema.sections.values() if key in s.options]
            if len(elsewhere) == 1:
                hint = f"; it is an option of [{elsewhere[0]}]"
        what = {FILE: "option", ENV: "option", CLI: "command-line option", OVERRIDE: "override"}[
            rank
        ]
        severity = ERROR if rank in (CLI, OVERRIDE) else WARNING
        code = "unknown-env" if rank == ENV else "unknown-option"
        return origin.problem(
            code,
            f"unknown {what} '{key}' in {where}{hint}",
            severity=severity,
            section=section,
            option=key,
            suggestion=suggestion,
        )

    # ------------------------------------------------------------------ choosing values
    def choose(self) -> None:
        # Defaults first, in bulk: most options of a large service are never set.
        for section in self.schema.sections.values():
            values = dict(section.ready_defaults)
            for option in section.copied_defaults:
                values[option.name] = option.ready_default.copy()  # type: ignore[attr-defined]
            self.outcome.values[section.name] = values
            for option in section.deferred_defaults:
                if option not in self.candidates:
                    self._default(option)
        for option, candidates in self.candidates.items():
            self.outcome.values[option.section].pop(option.name, None)
            self._choose(option, candidates)

    def _choose(self, option: Option, candidates: list[_Candidate]) -> None:
        # Precedence first (files < env < command line); within the winning layer, a current
        # name beats a deprecated one.
        top_rank = max(c.rank for c in candidates)
        layer = [c for c in candidates if c.rank == top_rank]
        current = [c for c in layer if not c.deprecated]
        for old in (c for c in candidates if c.deprecated):
            also_set = any(not c.deprecated for c in candidates)
            self.problems.append(_deprecated_name(option, old.origin, also_set=also_set))
        chosen = [c for c in candidates if c.rank < top_rank] + (current or layer)
        if chosen and option.deprecated_for_removal:
            reason = f": {option.deprecated_reason}" if option.deprecated_reason else ""
            self.problems.append(
                chosen[-1].origin.problem(
                    "deprecated-for-removal",
                    f"[{option.section}] {option.name} is deprecated for removal{reason}",
                    severity=WARNING,
                    section=option.section,
                    option=option.name,
                )
            )
        if not chosen:
            self._default(option)
            return
        top = chosen[-1]
        if option.multi:
            layer = [c for c in chosen if c.rank == top.rank]
            values: list[object] = []
            for candidate in layer:
                values.extend(
                    candidate.value if isinstance(candidate.value, list) else [candidate.value]
                )
            accumulates = top.rank in (FILE, CLI)  # repeated keys and flags; env gives a list
            self.raw[option] = (values if accumulates else top.value, top.origin)
        else:
            self.raw[option] = (top.value, top.origin)

    def _default(self, option: Option) -> None:
        if option.default is MISSING:
            self.problems.append(_required(option, self.inputs.env_prefix))
            self.failed.add(option)
        elif option.ready_default is not NOT_READY:
            ready = option.ready_default  # converted when declared; copied if mutable
            value = ready.copy() if isinstance(ready, list | dict) else ready
            self.outcome.values[option.section][option.name] = value
        else:
            self.raw[option] = (option.default, Origin("default"))

    # ------------------------------------------------------------------ resolving values
    def resolve_all(self) -> None:
        for option in self.raw:
            try:
                self.value_of(option)
            except Substitution:
                continue  # already reported where the value was written
        for option, (_, origin) in self.raw.items():
            if option.name in self.outcome.values[option.section]:
                self.outcome.origins[option] = origin

    def value_of(self, option: Option) -> object:
        """The checked value of ``option``; raises Substitution if it has none."""
        section_values = self.outcome.values[option.section]
        if option.name in section_values:
            found = section_values[option.name]
            if isinstance(found, Unresolved):
                raise Undeclared(f"[{option.section}] {option.name} has no value")
            return found
        if option in self.failed or option not in self.raw:
            raise Substitution(f"[{option.section}] {option.name} has no valid value")
        if option in self.resolving:
            raise Substitution(f"[{option.section}] {option.name} refers back to itself")
        if len(self.resolving) >= MAX_NESTING:
            raise Substitution(f"$references nest deeper than {MAX_NESTING} options")
        self.resolving.add(option)
        raw, origin = self.raw[option]
        try:
            text = self._substituted(option, raw, origin)
            if origin.reference is not None:
                origin.written = raw  # what dumps show: every item of a list, as written
            assert option.kind is not None
            value = option.kind.convert(text)
        except Undeclared as exc:
            if self.inputs.lazy_references and _reads_can_fail(option, self.schema):
                self._unresolved(option, origin, f"cannot substitute: {exc}", raw)
            else:
                self._fail(option, origin, f"cannot substitute: {exc}", raw)
            raise
        except Substitution as exc:
            self._fail(option, origin, f"cannot substitute: {exc}", raw)
            raise
        except BadValue as exc:
            self._fail(option, origin, str(exc), raw)
            raise Substitution(f"[{option.section}] {option.name} has no valid value") from None
        finally:
            self.resolving.discard(option)
        section_values[option.name] = value
        return value

    def _substituted(self, option: Option, raw: object, origin: Origin) -> object:
        if isinstance(raw, list):
            return [self._substituted(option, item, origin) for item in raw]
        if not isinstance(raw, str) or "$" not in raw:
            return raw
        if has_reference(raw):
            origin.reference = raw if origin.reference is None else origin.reference
            if "${secret:" in raw:
                self._tainted(option, origin, raw)
        return substitute(
            raw, lambda name: self._lookup(option, origin, raw, name), self._reference, self.budget
        )

    def _tainted(self, option: Option, origin: Origin, raw: str) -> None:
        """Secret material went into ``option``: dumps show ``raw``, and a plain option warns."""
        self.sensitive.add(option)
        origin.reference = raw if origin.reference is None else origin.reference
        if option.is_secret or _masks_itself(option):
            return
        self.problems.append(
            origin.problem(
                "secret-in-plain-option",
                f"[{option.section}] {option.name} takes a secret (through a reference) but is not"
                " declared Secret[...]; its value may show in logs",
                severity=WARNING,
                section=option.section,
                option=option.name,
            )
        )

    def _lookup(self, option: Option, origin: Origin, raw: str, name: str) -> str:
        section_name, dot, key = name.partition(".")
        if dot:
            section = self.schema.section(section_name)
            target = section.options.get(key) if section else None
        else:
            own = self.schema.section(option.section)
            target = own.options.get(name) if own else None
            if target is None:
                target = self.schema.sections[DEFAULT].options.get(name)
        if target is None:
            if option.is_secret:  # the text around the '$' is part of the secret: quote none
                raise Undeclared("a '$' in the value names no option (write $$ for a literal $)")
            if dot:
                where = f"[{section_name}]"
            elif option.section == DEFAULT:
                where = "[DEFAULT]"
            else:
                where = f"[{option.section}] or [DEFAULT]"
            raise Undeclared(f"'${name}' names no option ({where})")
        try:
            value = self.value_of(target)
        except Undeclared:  # reported where the target is written: name the target here
            raise Undeclared(f"[{target.section}] {target.name} has no value") from None
        if target.is_secret or target in self.sensitive:
            self._tainted(option, origin, raw)
        assert target.kind is not None
        return _as_text(target.kind, value)

    def _reference(self, kind: str, argument: str) -> str:
        return fetch_reference(kind, argument, self.environ, self.inputs.secrets)

    def _unresolved(self, option: Option, origin: Origin, message: str, raw: object) -> None:
        """Keep a value that names no option as an error for whoever reads it, and warn now."""
        self._fail(option, origin, message, raw)
        self.failed.discard(option)
        problem = self.problems.pop()
        value = Unresolved(problem)
        self.outcome.values[option.section][option.name] = value
        self.outcome.unresolved.setdefault(option.section, {})[option.name] = value
        warning = problem.as_error()
        warning.severity, warning.code = WARNING, "unresolved-reference"
        warning.message += "; reading it will fail"
        self.problems.append(warning)

    def _fail(self, option: Option, origin: Origin, message: str, raw: object) -> None:
        self.failed.add(option)
        shown = _as_shown(raw)
        assert option.kind is not None
        if option.is_secret or option in self.sensitive:
            # Neither the value nor the parts a message may quote: only what was expected.
            shown = "****" if origin.reference is None else origin.reference
            if not message.startswith("cannot substitute"):
                message = f"expected {option.kind.describe()}, got '****'"
        elif _masks_itself(option):  # URLs: their passwords stay out of the report
            shown, message = _mask_urls(shown), _mask_urls(message)
        assert option.kind is not None
        problem = (origin.problem if origin.kind != "default" else _default_problem(option))(
            "bad-value",
            f"[{option.section}] {option.name}: {message}",
            section=option.section,
            option=option.name,
            value=shown,
            expected=option.kind.describe(),
        )
        self.problems.append(problem)


def resolve(schema: Schema, inputs: Inputs) -> Outcome:
    """Read every source and check every value; problems are collected, never raised."""
    resolver = _Resolver(schema, inputs)
    resolver.gather()
    resolver.choose()
    resolver.resolve_all()
    outcome = resolver.outcome
    if inputs.strict:
        outcome.problems[:] = [
            p.as_error() if p.code in STRICT_CODES else p for p in outcome.problems
        ]
    return outcome


def _reads_can_fail(option: Option, schema: Schema) -> bool:
    """Whether reading ``option`` reaches its declaration, which raises for an Unresolved
    value (an option declared as a plain default, ``x: str = "$y"``, does not)."""
    section = schema.sections[normalize_section(option.section)]
    for klass in section.group.__mro__:
        if option.name in klass.__dict__:
            return isinstance(klass.__dict__[option.name], Option)
    return False


def _deprecated_name(option: Option, origin: Origin, *, also_set: bool) -> Problem:
    old = f"[{origin.section}] {origin.name}"
    new = f"[{option.section}] {option.name}"
    if also_set:
        message = (
            f"{old} is a deprecated name of {new}, which is also set: the value of {new} is used"
        )
    else:
        message = f"{old} is deprecated; use {new} instead"
        if origin.file is not None and not origin.file.endswith(".toml"):
            message += " (anker config migrate rewrites it)"  # INI files only
    return origin.problem(
        "deprecated-name",
        message,
        severity=WARNING,
        section=origin.section,
        option=origin.name,
        suggestion=f"{option.section}.{option.name}",
    )


def _required(option: Option, prefix: str | None) -> Problem:
    places = [f"a config file ([{option.section}] {option.name})"]
    if prefix:
        places.append(env_name(prefix, option))
    places.append(
        "--" + (option.name if option.section == DEFAULT else f"{option.section}.{option.name}")
    )
    assert option.kind is not None
    listed = ", ".join(places[:-1]) + " or " + places[-1]
    return Problem(
        "required",
        f"[{option.section}] {option.name} is required but not set; set it in {listed}",
        section=option.section,
        option=option.name,
        expected=option.kind.describe(),
    )


def env_name(prefix: str, option: Option) -> str:
    head = prefix.upper().rstrip("_")
    if option.section == DEFAULT:
        return f"{head}_{option.name.upper()}"
    return f"{head}_{option.section.upper()}__{option.name.upper()}"


def _default_problem(option: Option) -> Callable[..., Problem]:
    def make(code: str, message: str, **fields: object) -> Problem:
        return Problem(code, message + " (in its default)", **fields)  # type: ignore[arg-type]

    return make


def _masks_itself(option: Option) -> bool:
    """Whether the value holds URLs, which mask their own passwords when shown."""
    from anker.config._kinds import contains
    from anker.config._network import URLKind

    return option.kind is not None and contains(option.kind, URLKind)


def _as_text(kind: Kind, value: object) -> str:  # noqa: PLR0911 (one return per kind)
    """A value as ``$name`` substitutes it: as a config file would write it, secrets revealed."""
    from anker.config._kinds import ListKind, SecretKind
    from anker.config._network import URLKind

    if value is None:
        return ""
    if isinstance(kind, OptionalKind):
        return _as_text(kind.inner, value)
    if isinstance(kind, SecretKind):
        return _as_text(kind.inner, value.reveal())  # type: ignore[attr-defined]
    if isinstance(kind, URLKind):
        return value.render(mask=False)  # type: ignore[attr-defined, no-any-return]
    if isinstance(kind, ListKind):
        return ",".join(_as_text(kind.item, item) for item in value)  # type: ignore[attr-defined]
    if isinstance(kind, BoolKind):
        return str(value)  # True / False, as oslo.config substitutes them
    return kind.to_text(value)


def _mask_urls(text: str) -> str:
    """Mask the credentials of every URL in a message."""
    from anker._url import mask_urls

    return mask_urls(text)


def _as_shown(raw: object) -> str:
    return raw if isinstance(raw, str) else repr(raw)


def _closest(word: str, candidates: list[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.7)
    if not matches:
        lowered = {c.lower(): c for c in candidates}
        return lowered.get(word.lower())
    return matches[0]
