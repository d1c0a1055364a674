"""The records of a workflow store and the interface its drivers implement.

A store holds runs (one row each: definition name and version, state, inputs, owner engine,
lease and claim generation), their tasks (state, attempts, idempotency key, output, error,
timestamps) and the history of every transition. Its duties:

* every write about a run is *fenced*: it commits only while the writer's claim generation is
  the run's current one, and raises :class:`~anker.workflow.LeaseLost` otherwise;
* a task transition is one transaction (the task's row, its history row, the fence), which
  may carry other transitions of the same run (a success and the starts it enabled);
* :meth:`Store.claim` hands each unowned or lease-expired active run to exactly one engine,
  bumping its generation.

Drivers are found by URL scheme in the ``anker.workflow.stores`` entry point group.

.. versionadded:: 0.1
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from anker._drivers import Driver, DriverSettings, Seconds, setting
from anker.workflow._errors import StoreUnavailable
from anker.workflow._states import State

__all__ = [
    "STORE_GROUP",
    "Change",
    "Expectation",
    "HistoryEntry",
    "RunInfo",
    "Store",
    "StoreSettings",
    "TaskInfo",
]

STORE_GROUP = "anker.workflow.stores"


@dataclass(frozen=True)
class TaskInfo:
    """One task of a run as stored: ``key`` is its idempotency key, ``attempts`` how many
    attempts (of execute, then of revert) were started, ``output`` its result (JSON),
    ``error`` the last error, times in seconds since the epoch."""

    name: str
    state: State
    key: str
    attempts: int = 0
    output: Any = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    succeeded: float | None = None


@dataclass(frozen=True)
class RunInfo:
    """One workflow run as stored; ``tasks`` is empty in listings.

    ``owner`` is the engine running it (None: no engine), ``generation`` its claim
    generation, ``problem`` why no engine runs it (an incompatible definition), ``retry_of``
    the run this one retries, ``graph`` each task with the tasks it waits for (what
    ``anker workflow show`` draws)."""

    id: str
    name: str
    version: int
    state: State
    inputs: dict[str, Any]
    created: float
    updated: float
    error: str | None = None
    deadline: float | None = None
    cancel_requested: bool = False
    owner: str | None = None
    generation: int = 0
    lease_expires: float | None = None
    problem: str | None = None
    retry_of: str | None = None
    graph: dict[str, list[str]] = field(default_factory=dict)
    tasks: dict[str, TaskInfo] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryEntry:
    """One transition: of the run (``task`` None) or of one of its tasks."""

    seq: int
    run_id: str
    task: str | None
    old: State | None
    new: State
    at: float
    attempt: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Expectation:
    """The expected state of one resource, with what the last check observed: ``drifted``
    when they differed, ``repair_run`` the last repair run started for it."""

    resource: str
    expected: Any
    updated: float
    observed: Any = None
    checked: float | None = None
    drifted: bool = False
    repair_run: str | None = None


@dataclass(frozen=True)
class Change:
    """What one fenced transaction writes: a task's new state (with its attempt count,
    output, error and times, None: unchanged) and/or the run's new state."""

    task: str | None = None
    old: State | None = None
    new: State | None = None
    attempts: int | None = None
    output: Any = None
    set_output: bool = False
    #: ``output`` already encoded as JSON (the engine checks a result by encoding it)
    encoded: str | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    succeeded: float | None = None
    run_old: State | None = None
    run_new: State | None = None
    run_error: str | None = None


@dataclass(frozen=True)
class StoreSettings(DriverSettings):
    """The options of every workflow store, from the URL's query or keywords."""

    #: seconds one call to the store may take
    timeout: Seconds = setting(Seconds(5.0), min=0.1, help="seconds one call to the store may take")


class Store(Driver):
    """A workflow store; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = StoreSettings
    settings: StoreSettings
    kind: ClassVar[str] = "workflow store"
    unavailable = StoreUnavailable

    @property
    def connect_timeout(self) -> float:
        return self.settings.timeout

    async def upgrade(self) -> None:
        """Create or migrate the store's schema (what ``anker workflow upgrade`` runs)."""

    @abc.abstractmethod
    async def create(
        self, run: RunInfo, task_keys: dict[str, str], owner: str | None, lease: float
    ) -> int:
        """Insert a new run (PENDING) and its tasks, claimed by ``owner`` for ``lease`` seconds
        when given; the claim generation (1, or 0 unclaimed)."""

    @abc.abstractmethod
    async def claim(
        self, owner: str, names: Sequence[str], lease: float, limit: int, mine: bool = False
    ) -> list[tuple[str, int]]:
        """Claim up to ``limit`` active runs of the definitions ``names`` that no engine owns
        or whose lease ran out (with ``mine``, also those ``owner`` holds: a restarted
        engine's), without a problem recorded: ``(run id, generation)`` each."""

    @abc.abstractmethod
    async def renew(self, owner: str, lease: float) -> set[str]:
        """Extend the lease of every active run ``owner`` holds; their ids."""

    @abc.abstractmethod
    async def write(self, run_id: str, generation: int, changes: Sequence[Change]) -> bool:
        """Commit ``changes`` (one transaction, with their history rows) if ``generation`` is
        still the run's; whether a cancel was requested. Raises LeaseLost otherwise."""

    @abc.abstractmethod
    async def migrate(
        self,
        run_id: str,
        generation: int,
        version: int,
        renames: dict[str, str],
        graph: dict[str, list[str]],
    ) -> None:
        """Move a run to definition ``version`` (fenced like :meth:`write`): its tasks renamed
        ``{old: new}`` (their keys, states and outputs kept) and its graph replaced."""

    @abc.abstractmethod
    async def release(self, run_id: str, generation: int, problem: str | None = None) -> None:
        """Give the run up (no owner); ``problem`` says why no engine should take it."""

    @abc.abstractmethod
    async def get(self, run_id: str) -> RunInfo:
        """The run with its tasks; :class:`~anker.workflow.RunNotFound` if missing."""

    @abc.abstractmethod
    async def runs(self, states: Sequence[State] = (), limit: int = 100) -> list[RunInfo]:
        """Runs (newest first), only those in ``states`` if given, without their tasks."""

    @abc.abstractmethod
    async def history(self, run_id: str) -> list[HistoryEntry]:
        """Every transition of the run, oldest first."""

    @abc.abstractmethod
    async def request_cancel(self, run_id: str) -> RunInfo:
        """Ask for the run's cancellation: a PENDING run no engine holds is CANCELLED at once;
        an active one is cancelled by its engine at its next transition."""

    @abc.abstractmethod
    async def resume(self, run_id: str) -> RunInfo:
        """Give a FAILED run back to the engines (REVERTING, its failed reverts tried again),
        or clear the problem of a reported run so that an engine tries it again."""

    @abc.abstractmethod
    async def set_expected(self, resource: str, state: Any) -> None:
        """Record ``resource``'s expected state (JSON); None forgets the resource."""

    @abc.abstractmethod
    async def expectations(self, drifted_only: bool = False) -> list[Expectation]:
        """Every expected state (only those found drifted at their last check)."""

    @abc.abstractmethod
    async def observed(
        self, resource: str, observed: Any, drifted: bool, repair_run: str | None
    ) -> None:
        """Record a check of ``resource``: what was observed, whether it drifted, and the
        repair run started (None: keep the last one)."""
