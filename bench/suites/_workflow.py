"""Workflow benchmarks: per-step overhead of durable workflows of no-op steps, anker against
DBOS Transact and taskflow (with its SQL persistence), each on a fresh store of the same kind
(a SQLite file, or a PostgreSQL database on the test server).

anker persists two transitions per step (RUNNING, then SUCCEEDED with its output), each one
commit; DBOS records each step's output (one commit); taskflow writes its atoms' details
several times per task. Every side runs one workflow of ``count`` steps per sample; the metric
is milliseconds per step.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from bench._harness import Benchmark, Measure, Side
from bench.suites._coord import loop_thread, unique
from bench.suites._limits import fresh_postgres


@contextlib.contextmanager
def store_url(store: str, scheme: str = "") -> Iterator[str]:
    """An empty store: a SQLite file (``sqlite:///path``, or ``sqlite:////path`` for
    SQLAlchemy's own URLs with ``scheme='sqlalchemy'``) or a fresh PostgreSQL database."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite://{'/' if scheme else ''}{directory}/workflows.db"
    else:
        with fresh_postgres() as fresh:
            yield fresh.replace("postgresql://", "postgresql+psycopg://", 1) if scheme else fresh


def anker_side(store: str, name: str = "anker", steps: int | None = None) -> Side:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        from anker.workflow import Engine, Task, TaskContext, Workflow, sequence

        async def noop(ctx: TaskContext) -> None:
            return None

        flows: dict[int, Workflow] = {}

        def flow(count: int) -> Workflow:
            if count not in flows:
                tasks = (Task(f"s{i}", noop) for i in range(count))
                flows[count] = Workflow(f"noop{count}", sequence(*tasks))
            return flows[count]

        with store_url(store) as url, loop_thread() as call:
            sizes = sorted({steps} if steps else {1, 10, 100, 1000, 16, 2, 5})
            engine = call(Engine.open(url, [flow(n) for n in sizes], upgrade=True, timeout=30))
            try:

                def measure(count: int) -> float:
                    n = steps or count
                    began = time.perf_counter()
                    info = call(engine.run(flow(n)))
                    assert info.state.value == "SUCCEEDED", info
                    return (time.perf_counter() - began) * 1000 / n

                yield measure
            finally:
                call(engine.aclose())

    return Side(name, opened, is_anker=name == "anker", requires=("sqlalchemy",))


def dbos_side(store: str) -> Side:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        import logging

        from dbos import DBOS

        with store_url(store, "sqlalchemy") as url:
            logging.getLogger("dbos").setLevel(logging.WARNING)
            DBOS(config={"name": unique("bench"), "system_database_url": url})

            @DBOS.step()
            def noop(i: int) -> int:
                return i

            @DBOS.workflow()
            def flow(count: int) -> int:
                for i in range(count):
                    noop(i)
                return count

            DBOS.launch()
            try:

                def measure(count: int) -> float:
                    began = time.perf_counter()
                    flow(count)
                    return (time.perf_counter() - began) * 1000 / count

                yield measure
            finally:
                DBOS.destroy()

    return Side("dbos", opened, requires=("dbos",))


def taskflow_side(store: str) -> Side:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        from taskflow import engines, task
        from taskflow.patterns import linear_flow
        from taskflow.persistence import backends

        class Noop(task.Task):  # type: ignore[misc]
            def execute(self) -> Any:
                return None

        with store_url(store, "sqlalchemy") as url:
            backend = backends.fetch({"connection": url})
            with contextlib.closing(backend.get_connection()) as connection:
                connection.upgrade()

            def measure(count: int) -> float:
                flow = linear_flow.Flow("noop")
                flow.add(*(Noop(name=f"s{i}") for i in range(count)))
                began = time.perf_counter()
                engines.run(flow, backend=backend)
                return (time.perf_counter() - began) * 1000 / count

            try:
                yield measure
            finally:
                backend.close()

    return Side("taskflow", opened, requires=("taskflow",))


def steps_benchmark(store: str) -> Benchmark:
    return Benchmark(
        name=f"workflow-steps-{store.removesuffix('ql')}",
        description=(
            f"one durable workflow of `count` no-op steps on {store}, ms per step: anker "
            f"against DBOS Transact and taskflow with its SQL persistence, each on a fresh "
            f"store of the same kind"
        ),
        unit="ms/step",
        higher_is_better=False,
        sides=(anker_side(store), dbos_side(store), taskflow_side(store)),
        count=100,
        smoke_count=2,
        reps=5,
    )


def size_benchmark(store: str) -> Benchmark:
    return Benchmark(
        name=f"workflow-size-{store.removesuffix('ql')}",
        description=(
            f"anker's ms per step on {store} for workflows of 10, 100 and 1,000 no-op steps "
            f"(the ratios show any growth with flow size)"
        ),
        unit="ms/step",
        higher_is_better=False,
        sides=(
            anker_side(store, "anker", 100),
            anker_side(store, "anker 10 steps", 10),
            anker_side(store, "anker 1000 steps", 1000),
        ),
        count=1,
        smoke_count=1,
        reps=5,
    )
