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


#: finished runs of three tasks, as the engine leaves them (nine transitions each): the
#: common table expressions, then the insert, for each table
COUNT = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)"
PREFILL = (
    (
        "",
        """INSERT INTO anker_workflow_runs (id, name, version, state, inputs, graph, created,
  updated, cancel_requested, generation)
SELECT 'done' || i, 'done3', 1, 'SUCCEEDED', '{}', '{}', i * 0.001, i * 0.001, false, 1
FROM n""",
    ),
    (
        ", t(name) AS (SELECT 's0' UNION ALL SELECT 's1' UNION ALL SELECT 's2')",
        """INSERT INTO anker_workflow_tasks (run_id, name, state, key, attempts, output, started,
  finished, succeeded)
SELECT 'done' || i, t.name, 'SUCCEEDED', 'done' || i || ':' || t.name, 1, 'null', i * 0.001,
  i * 0.001, i * 0.001
FROM n CROSS JOIN t""",
    ),
    (
        """, h(task, old, new) AS (
  SELECT NULL, NULL, 'PENDING' UNION ALL SELECT NULL, 'PENDING', 'RUNNING'
  UNION ALL SELECT 's0', 'PENDING', 'RUNNING' UNION ALL SELECT 's0', 'RUNNING', 'SUCCEEDED'
  UNION ALL SELECT 's1', 'PENDING', 'RUNNING' UNION ALL SELECT 's1', 'RUNNING', 'SUCCEEDED'
  UNION ALL SELECT 's2', 'PENDING', 'RUNNING' UNION ALL SELECT 's2', 'RUNNING', 'SUCCEEDED'
  UNION ALL SELECT NULL, 'RUNNING', 'SUCCEEDED')""",
        """INSERT INTO anker_workflow_history (run_id, task, old, new, at, attempt)
SELECT 'done' || i, h.task, h.old, h.new, i * 0.001, 1 FROM n CROSS JOIN h""",
    ),
)


def prefill(engine: Any, count: int) -> None:
    """Add ``count`` finished runs (three tasks each, with their history) to a store."""
    import sqlalchemy as sa

    with engine.begin() as connection:
        for more, insert in PREFILL:
            connection.execute(sa.text(f"{COUNT}{more}\n{insert}"), {"count": count})
        rows = connection.execute(sa.text("SELECT count(*) FROM anker_workflow_history"))
        assert rows.scalar_one() >= count * 9, "the store was not filled"
    if engine.dialect.name == "postgresql":  # what autovacuum does on a settled database
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE"))


def anker_side(
    store: str, name: str = "anker", steps: int | None = None, finished: int = 0
) -> Side:
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
                if finished:
                    prefill(engine.store.engine, finished)

                def measure(count: int) -> float:
                    n = steps or count
                    began = time.perf_counter()
                    info = call(engine.run(flow(n)))
                    assert info.state.value == "SUCCEEDED", info
                    return (time.perf_counter() - began) * 1000 / n

                yield measure
            finally:
                call(engine.aclose())

    return Side(
        name,
        opened,
        is_anker=name == "anker",
        requires=("sqlalchemy",),
        smoke=finished <= 1000,  # filling the store takes a while
    )


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


def rows_benchmark(store: str) -> Benchmark:
    return Benchmark(
        name=f"workflow-rows-{store.removesuffix('ql')}",
        description=(
            f"anker's ms per step on {store} for a 100-step workflow in a store holding 1,000 "
            f"and 100,000 finished runs (three tasks and nine transitions each; the ratio shows "
            f"any growth with the store's size)"
        ),
        unit="ms/step",
        higher_is_better=False,
        sides=(
            anker_side(store, "anker", 100, finished=1000),
            anker_side(store, "anker 100k finished runs", 100, finished=100_000),
        ),
        count=1,
        smoke_count=1,
        reps=7,
    )
