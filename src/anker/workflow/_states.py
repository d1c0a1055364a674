"""The state machines of a workflow run and of each of its tasks: the one table of allowed
transitions that the engine and the stores check every change against.

A run::

    PENDING ──> RUNNING ──> SUCCEEDED
       │           │
       │           └──> REVERTING ──> REVERTED      (a task failed, every revert succeeded)
       │                   │  ├─────> CANCELLED     (cancelled or past its deadline, reverted)
       │                   │  └─────> FAILED ──> REVERTING   (a revert failed; an operator
       └──> CANCELLED      │                                  resumes it)
                           └── (back to RUNNING is never allowed)

A task::

    PENDING ──> RUNNING ──> SUCCEEDED ──> REVERTING ──> REVERTED
                 │  ↺ retry      │           │  ↺ retry      ↑
                 └──> FAILED     │           └──> FAILED ──> REVERTING (resume)
                                 └──────────────────────────────┘ (a task without revert)

A RUNNING task whose engine died is run again (``RUNNING ↺``) with the same idempotency key;
that is the only task that can ever run twice.

.. versionadded:: 0.1
"""

from __future__ import annotations

import enum

from anker.workflow._errors import InvalidTransition

__all__ = ["ACTIVE", "RUN_TRANSITIONS", "TASK_TRANSITIONS", "TERMINAL", "State", "check"]


class State(enum.StrEnum):
    """The state of a workflow run or of one of its tasks."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    REVERTING = "REVERTING"
    REVERTED = "REVERTED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


P, R, S, RV, RD, F, C = (
    State.PENDING,
    State.RUNNING,
    State.SUCCEEDED,
    State.REVERTING,
    State.REVERTED,
    State.FAILED,
    State.CANCELLED,
)

#: the states a run can go to from each state
RUN_TRANSITIONS: dict[State, frozenset[State]] = {
    P: frozenset({R, C}),
    R: frozenset({S, RV}),
    RV: frozenset({RD, F, C}),
    F: frozenset({RV}),
    S: frozenset(),
    RD: frozenset(),
    C: frozenset(),
}

#: the states a task can go to from each state (RUNNING to RUNNING: another attempt)
TASK_TRANSITIONS: dict[State, frozenset[State]] = {
    P: frozenset({R}),
    R: frozenset({R, S, F}),
    S: frozenset({RV, RD}),
    RV: frozenset({RV, RD, F}),
    F: frozenset({RV}),
    RD: frozenset(),
    C: frozenset(),
}

#: the states in which an engine drives a run
ACTIVE: frozenset[State] = frozenset({P, R, RV})
#: the states a run ends in (FAILED is final until an operator resumes it)
TERMINAL: frozenset[State] = frozenset({S, RD, F, C})


def check(what: str, table: dict[State, frozenset[State]], current: State, wanted: State) -> None:
    """Raise :class:`~anker.workflow.InvalidTransition` unless ``table`` allows the change."""
    if wanted not in table[current]:
        raise InvalidTransition(what, current.value, wanted.value)
