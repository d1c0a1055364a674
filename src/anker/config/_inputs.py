"""What one load of a configuration reads (kept so that a reload reads it again), and which
options the command line gives by position."""

from __future__ import annotations

from anker._typing import TYPE_CHECKING
from anker.config._kinds import ListKind, OptionalKind

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from anker.config._schema import Schema

__all__ = ["Inputs", "positional_options"]


def positional_options(schema: Schema) -> list[tuple[str, str, bool]]:
    """``(section, option, takes_the_rest)`` of the options given on the command line
    without their name, in declaration order; TypeError if a list one is not the last."""
    found = []
    for option in schema.options():
        if option.positional:
            kind = option.kind.inner if isinstance(option.kind, OptionalKind) else option.kind
            found.append((option.section, option.name, isinstance(kind, ListKind)))
    for section, name, takes_the_rest in found[:-1]:
        if takes_the_rest:
            raise TypeError(
                f"positional option [{section}] {name} takes every argument left, so it must"
                " be the last positional option"
            )
    return found


class Inputs:
    """Everything one load reads, kept so that a reload reads the same sources again."""

    __slots__ = (
        "argv",
        "env_prefix",
        "environ",
        "lazy_references",
        "overrides",
        "paths",
        "secrets",
        "strict",
    )

    def __init__(
        self,
        *,
        paths: Sequence[tuple[str, bool]],
        argv: Sequence[str],
        env_prefix: str | None,
        environ: Mapping[str, str] | None,
        strict: bool,
        secrets: Callable[[str], str] | None,
        overrides: Mapping[str, object],
        lazy_references: bool = False,
    ) -> None:
        self.paths = tuple(paths)
        self.argv = tuple(argv)
        self.env_prefix = env_prefix
        self.environ = environ  # None: os.environ as it is at each (re)load
        self.strict = strict
        self.secrets = secrets
        self.overrides = dict(overrides)
        self.lazy_references = lazy_references

    def with_overrides(self, overrides: Mapping[str, object]) -> Inputs:
        """The same sources with these overrides instead."""
        return Inputs(
            paths=self.paths,
            argv=self.argv,
            env_prefix=self.env_prefix,
            environ=self.environ,
            strict=self.strict,
            secrets=self.secrets,
            overrides=overrides,
            lazy_references=self.lazy_references,
        )
