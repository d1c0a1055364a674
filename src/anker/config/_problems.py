"""What can be wrong with a configuration, and the one error that reports all of it."""

from __future__ import annotations

from anker.errors import AnkerError

__all__ = ["ConfigError", "Problem"]

ERROR = "error"
WARNING = "warning"


class Problem:
    """One thing wrong (or worth a warning) in a configuration, with where it was found.

    ``file`` and ``line`` locate it in a config file; ``source`` names any other place (an
    environment variable, a command-line argument). ``value`` is the offending value as
    written, already masked when the option is secret.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "code",
        "expected",
        "file",
        "line",
        "message",
        "option",
        "section",
        "severity",
        "source",
        "suggestion",
        "value",
    )

    def __init__(
        self,
        code: str,
        message: str,
        *,
        severity: str = ERROR,
        file: str | None = None,
        line: int | None = None,
        source: str | None = None,
        section: str | None = None,
        option: str | None = None,
        value: str | None = None,
        expected: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.severity = severity
        self.file = file
        self.line = line
        self.source = source
        self.section = section
        self.option = option
        self.value = value
        self.expected = expected
        self.suggestion = suggestion

    @property
    def is_error(self) -> bool:
        """Whether the problem is an error (the load fails) rather than a warning."""
        return self.severity == ERROR

    @property
    def location(self) -> str:
        """``file:line``, the other source, or ``""``."""
        if self.file is not None:
            return f"{self.file}:{self.line}" if self.line is not None else self.file
        return self.source or ""

    def as_error(self) -> Problem:
        """The same problem with error severity (strict mode)."""
        copy = Problem(self.code, self.message)
        for name in self.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.severity = ERROR
        return copy

    def as_dict(self) -> dict[str, str | int | None]:
        """Every field by name, as ``--format json`` prints a problem."""
        return {name: getattr(self, name) for name in sorted(self.__slots__)}

    def __str__(self) -> str:
        where = self.location
        return (
            f"{where}: {self.severity}: {self.message}"
            if where
            else f"{self.severity}: {self.message}"
        )

    def __repr__(self) -> str:
        return f"Problem({self.code!r}, {str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.file, self.line))


class ConfigError(AnkerError, ValueError):
    """The configuration is invalid; ``problems`` lists every error (and warning) found.

    Loading checks everything before it fails, so one run shows all that needs fixing.

    .. versionadded:: 0.1
    """

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        self.errors = tuple(p for p in self.problems if p.is_error)
        count = len(self.errors)
        lines = [f"{count} error{'s' if count != 1 else ''} in the configuration:"]
        lines += [f"  {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))
