"""A deadlock victim's extra latency: from the moment its driver reports the deadlock to the
moment its retried transaction has committed, in milliseconds (lower is better).

Each deadlock is made on purpose by two threads with a transaction each: A updates row 1 and
B row 2, each waits until the other holds its row, then A updates row 2 and B row 1. The
server picks a victim (MariaDB at once, PostgreSQL after its ``deadlock_timeout``, 1 s by
default: not part of the figure); the victim's unit of work is retried and commits once the
winner has. The time of the deadlock is taken in a ``handle_error`` hook put first on the
side's engine, the time of the commit when the victim's unit of work returns. Sides, each on
its own two-row table:

- anker: an engine from :func:`anker.db.create_engine` (defaults), the unit of work decorated
  with :func:`anker.db.retrying` (defaults: the first delay drawn from 0-20 ms);
- oslo.db: its enginefacade writer (defaults, a fresh context per call), the unit of work
  decorated with ``oslo_db.api.wrap_db_retry(retry_on_deadlock=True)`` (defaults: a first
  delay of ``retry_interval`` = 1 s).

Each sample is the median over ``count`` deadlocks (the later victim's, if both threads
were one in a round); the extras are the mean over them, and how many of the two threads
were a victim per round (1 unless a retry deadlocked with the other's).
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from bench._harness import Benchmark, Measure, Measured, Side
from bench.suites._db import DATABASES, Database, bench_table, place

#: how long a thread waits for the other to hold its first row (only a failure takes long)
HOLD_WAIT = 30.0


def _is_deadlock(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if getattr(exc, "sqlstate", None) == "40P01":  # psycopg
        return True
    return bool(exc.args) and exc.args[0] == 1213  # PyMySQL: ER_LOCK_DEADLOCK


def _statements(table: Any) -> Any:
    import sqlalchemy

    return (
        sqlalchemy.update(table)
        .where(table.c.id == sqlalchemy.bindparam("key"))
        .values(value=table.c.value + 1)
    )


@dataclass(frozen=True)
class Turn:
    """One thread's part in a deadlock: its first row, then the other's."""

    first: int
    second: int
    mine: threading.Event
    theirs: threading.Event

    def run(self, connection: Any, update: Any) -> None:
        connection.execute(update, {"key": self.first})
        self.mine.set()
        self.theirs.wait(HOLD_WAIT)
        connection.execute(update, {"key": self.second})


def _measure(engine: Any, unit: Callable[[Turn], None]) -> Measure:
    """Make ``count`` deadlocks through ``unit`` and time each victim."""
    from sqlalchemy import event

    deadlocked: dict[int, float] = {}
    lock = threading.Lock()

    def seen(context: Any) -> None:
        if _is_deadlock(context.original_exception):
            with lock:
                deadlocked.setdefault(threading.get_ident(), time.perf_counter())

    event.listen(engine, "handle_error", seen, insert=True)

    def one() -> tuple[float, int]:
        deadlocked.clear()
        holds = (threading.Event(), threading.Event())
        finished: dict[int, float] = {}
        failed: list[BaseException] = []

        def run(turn: Turn) -> None:
            try:
                unit(turn)
                finished[threading.get_ident()] = time.perf_counter()
            except BaseException as exc:
                failed.append(exc)

        threads = [
            threading.Thread(target=run, args=(Turn(1, 2, holds[0], holds[1]),)),
            threading.Thread(target=run, args=(Turn(2, 1, holds[1], holds[0]),)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failed:
            raise RuntimeError(f"a transaction failed for good: {failed[0]!r}") from failed[0]
        if not deadlocked:
            raise RuntimeError("no deadlock happened")
        victims = [finished[ident] - when for ident, when in deadlocked.items()]
        return max(victims) * 1000, len(deadlocked)

    def measure(count: int) -> float:
        rounds = [one() for _ in range(count)]
        latencies = [latency for latency, _ in rounds]
        return Measured(
            statistics.median(latencies),
            {
                "mean extra latency ms": statistics.fmean(latencies),
                "victims per deadlock": statistics.fmean(victims for _, victims in rounds),
            },
        )

    return measure


def anker_side(database: Database) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        from anker.db import create_engine, retrying

        with place(database) as where, bench_table(where, "anker", 3) as table:
            engine = create_engine(where.anker_url)
            update = _statements(table)

            @retrying
            def unit(turn: Turn) -> None:
                with engine.begin() as connection:
                    turn.run(connection, update)

            try:
                yield _measure(engine, unit)
            finally:
                engine.dispose()

    return opened


def oslo_side(database: Database) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        from oslo_db import api
        from oslo_db.sqlalchemy import enginefacade

        with place(database) as where, bench_table(where, "oslo", 3) as table:
            facade = enginefacade.transaction_context()
            facade.configure(connection=where.sqlalchemy_url)
            writer = facade.writer.connection
            update = _statements(table)

            @api.wrap_db_retry(retry_on_deadlock=True)
            def unit(turn: Turn) -> None:
                with writer.using(types.SimpleNamespace()) as connection:
                    turn.run(connection, update)

            try:
                yield _measure(facade.writer.get_engine(), unit)
            finally:
                facade.dispose_pool()

    return opened


def benchmark(database_name: str) -> Benchmark:
    """The benchmark ``db-deadlock-DATABASE``."""
    database = DATABASES[database_name]
    return Benchmark(
        name=f"db-deadlock-{database.name}",
        description=(
            f"a deadlock victim's extra latency on {database.name}: from the deadlock to its"
            " retried transaction's commit, ms"
        ),
        unit="ms",
        higher_is_better=False,
        sides=(
            Side(
                "anker retrying",
                anker_side(database),
                is_anker=True,
                requires=("anker", "sqlalchemy", database.module),
            ),
            Side(
                "oslo.db wrap_db_retry",
                oslo_side(database),
                requires=("oslo_db", "sqlalchemy", database.module),
            ),
        ),
        count=5,
        smoke_count=1,
        reps=5,
    )
