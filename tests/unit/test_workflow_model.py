"""Workflow definitions: flows compile to the right waits, bad definitions are refused when
defined, and the state machines allow exactly their documented transitions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anker.workflow import (
    InvalidTransition,
    InvalidWorkflow,
    Retry,
    State,
    Task,
    TaskContext,
    Workflow,
    graph,
    parallel,
    sequence,
)
from anker.workflow._states import ACTIVE, RUN_TRANSITIONS, TASK_TRANSITIONS, TERMINAL, check


async def noop(ctx: TaskContext, **inputs: Any) -> None:
    return None


def t(name: str, requires: tuple[str, ...] = (), provides: str | None = None) -> Task:
    return Task(name, noop, requires=requires, provides=provides)


def waits(workflow: Workflow) -> dict[str, set[str]]:
    return {name: set(before) for name, (_, before) in workflow.tasks().items()}


def test_a_sequence_waits_for_everything_before_and_parallel_for_nothing() -> None:
    flow = Workflow("w", sequence(t("a"), parallel(t("b"), t("c")), t("d")))
    assert waits(flow) == {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}


def test_data_orders_tasks_in_any_flow_and_the_plan_puts_providers_first() -> None:
    flow = Workflow("w", graph(t("late", ("x",)), t("early", provides="x"), t("free")))
    assert waits(flow) == {"late": {"early"}, "early": set(), "free": set()}
    assert list(flow.tasks()) == ["early", "late", "free"]


def test_nested_sequences_inside_parallel_branches() -> None:
    flow = Workflow(
        "w", parallel(sequence(t("a1"), t("a2")), sequence(t("b1"), t("b2"))), version=2
    )
    assert waits(flow) == {"a1": set(), "a2": {"a1"}, "b1": set(), "b2": {"b1"}}


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: Workflow("w", sequence(t("a"), t("a"))), "two tasks are named 'a'"),
        (lambda: Workflow("w", t("a", ("nope",))), "requires 'nope', which no task provides"),
        (
            lambda: Workflow("w", sequence(t("a", ("y",), "x"), t("b", ("x",), "y"))),
            "a cycle",
        ),
        (
            lambda: Workflow("w", parallel(t("a", provides="x"), t("b", provides="x"))),
            "'x' is provided twice",
        ),
        (lambda: Workflow("bad name!", t("a")), "use 1 to 200"),
    ],
)
def test_bad_definitions_are_refused_when_defined(build: Any, reason: str) -> None:
    with pytest.raises(InvalidWorkflow, match=reason):
        build()


def test_bad_tasks_and_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="task name"):
        Task("", noop)
    with pytest.raises(TypeError, match="not a string"):
        Task("a", noop, requires="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        Task("a", noop, timeout=0)
    with pytest.raises(ValueError, match="attempts"):
        Retry(attempts=0)
    with pytest.raises(ValueError, match="first"):
        Retry(first=2, cap=1)


def test_the_documented_transitions() -> None:
    assert {State.SUCCEEDED, State.REVERTED, State.FAILED, State.CANCELLED} == TERMINAL
    assert {State.PENDING, State.RUNNING, State.REVERTING} == ACTIVE
    assert RUN_TRANSITIONS[State.RUNNING] == {State.SUCCEEDED, State.REVERTING}
    assert RUN_TRANSITIONS[State.FAILED] == {State.REVERTING}  # an operator's resume
    assert TASK_TRANSITIONS[State.RUNNING] == {State.RUNNING, State.SUCCEEDED, State.FAILED}
    with pytest.raises(InvalidTransition, match="run x cannot go from SUCCEEDED to RUNNING"):
        check("run x", RUN_TRANSITIONS, State.SUCCEEDED, State.RUNNING)


@given(st.lists(st.sampled_from(list(State)), min_size=1, max_size=12))
def test_no_walk_leaves_a_succeeded_run_or_reruns_a_reverted_task(path: list[State]) -> None:
    for table, sink in ((RUN_TRANSITIONS, State.SUCCEEDED), (TASK_TRANSITIONS, State.REVERTED)):
        state = State.PENDING
        for wanted in path:
            try:
                check("x", table, state, wanted)
            except InvalidTransition:
                continue
            assert state is not sink  # a sink never moves
            state = wanted
