"""What a health check is and what it reports: :class:`Check`, :class:`Result`, :class:`Status`."""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = ["GROUPS", "Check", "CheckFunction", "ComponentType", "Result", "Status"]

#: The groups anker's endpoints serve (``/livez``, ``/readyz``, ``/startupz``); any other
#: name is a custom group, served at ``/health/<name>``.
GROUPS = ("live", "ready", "startup")

#: What a check looks at, as the IETF health+json draft names it.
ComponentType: TypeAlias = Literal["datastore", "component", "system"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(:[A-Za-z0-9][A-Za-z0-9_.-]*)?")
_GROUP = re.compile(r"[a-z0-9][a-z0-9_-]*")


class Status(enum.StrEnum):
    """A check's verdict: ``pass`` and ``warn`` answer 200, ``fail`` answers 503."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @classmethod
    def worst(cls, statuses: Iterable[Status]) -> Status:
        """``fail`` if any failed, else ``warn`` if any warned, else ``pass`` (also for none)."""
        found = set(statuses)
        for status in (cls.FAIL, cls.WARN):
            if status in found:
                return status
        return cls.PASS


@dataclass(frozen=True, slots=True)
class Result:
    """What one run of a check found.

    ``output`` is a short text for operators, shown only where details are enabled; it must
    never hold a hostname, a credential or a stack trace (the built-in checks say "coordination
    backend unavailable", not the error). ``detail`` is the error itself (credentials masked),
    shown only if the operator turns on ``show_errors``.
    """

    status: Status
    observed_value: float | int | str | None = None
    observed_unit: str | None = None
    output: str = ""
    detail: str = ""

    @classmethod
    def passed(cls, value: float | int | str | None = None, unit: str | None = None) -> Result:
        """A ``pass`` with an observed value."""
        return cls(Status.PASS, value, unit)

    @classmethod
    def warned(
        cls, output: str, value: float | int | str | None = None, unit: str | None = None
    ) -> Result:
        """A ``warn`` saying why."""
        return cls(Status.WARN, value, unit, output)

    @classmethod
    def failed(
        cls,
        output: str,
        value: float | int | str | None = None,
        unit: str | None = None,
        *,
        detail: str = "",
    ) -> Result:
        """A ``fail`` saying why."""
        return cls(Status.FAIL, value, unit, output, detail)


#: A check's body: an async callable returning a :class:`Result` (``None`` means ``pass``).
#: It may raise: :class:`~anker.errors.Unavailable` becomes ``fail`` saying which kind of
#: dependency is down, any other exception a ``fail`` saying only that the check failed.
CheckFunction: TypeAlias = Callable[[], Awaitable[Result | None]]


@dataclass(frozen=True, slots=True)
class Check:
    """One health check: a name, an async function, the groups it belongs to.

    ``name`` is the key of the health+json ``checks`` object, ``component:measurement``
    (``redis:responseTime``, ``disk:free``). ``groups`` are the endpoints that run it:
    ``live`` only for what says the process itself is stuck (never a dependency: a database
    outage must not restart every service), ``ready`` for the dependencies needed to serve,
    ``startup``, or custom names. ``timeout`` (seconds) overrides the registry's: a check that
    takes longer reports ``fail``, "timed out after N ms". ``subject`` is the part a
    built-in check watches (a driver, an engine), so that a registry that discovers open parts
    does not check it twice.
    """

    name: str
    function: CheckFunction
    component_type: ComponentType = "component"
    groups: frozenset[str] = field(default=frozenset({"ready"}))
    timeout: float | None = None
    subject: object | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(
                f"health check name {self.name!r}: expected component or component:measurement"
                " (letters, digits, '.', '_', '-')"
            )
        if self.component_type not in ("datastore", "component", "system"):
            raise ValueError(
                f"health check {self.name}: componentType {self.component_type!r} is not"
                " datastore, component or system"
            )
        if not self.groups:
            raise ValueError(f"health check {self.name}: no groups")
        for group in self.groups:
            if not _GROUP.fullmatch(group) or group == "all":
                raise ValueError(
                    f"health check {self.name}: group {group!r} is not a name of lower-case"
                    " letters, digits, '_' and '-' (and not 'all')"
                )
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"health check {self.name}: timeout must be > 0, not {self.timeout}")


def check_group(group: str) -> str:
    """``group`` if it is a valid group name; ValueError otherwise."""
    if not _GROUP.fullmatch(group):
        raise ValueError(f"{group!r} is not a health group name")
    return group
