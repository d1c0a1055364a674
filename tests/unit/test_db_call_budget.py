"""What anker.db adds to a primary-key read over plain SQLAlchemy configured as anker's engine is
(the benchmark's like-with-like side), counted in Python calls (cProfile: a figure no load
changes): nothing per statement (the error hook waits for errors), one call per checkout (the
pool's check), three per ``retrying`` unit of work (its wrapper, the nesting flag's set and
reset). And what was made cheap still works: a hook anker quieted takes a listener added later,
errors are still translated, ``retrying`` still tells nested units of work and the caller's
transactions apart."""

from __future__ import annotations

import cProfile
import gc
import pstats
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, event, insert, select

from anker.db import DBDeadlock, DBDuplicateEntry, create_engine, retrying
from anker.db._quiet import STATEMENT_HOOKS
from anker.drivers import Backoff
from bench.suites._db import DATABASES, same_settings

ROWS = 20


def table_of(metadata: MetaData) -> Table:
    return Table(
        "items",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(40), nullable=False),
    )


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[Engine, Engine, Table]]:
    """anker's engine and plain SQLAlchemy's with anker's settings, on one SQLite file."""
    path = tmp_path / "budget.db"
    anker = create_engine(f"sqlite://{path}")
    table = table_of(MetaData())
    table.metadata.create_all(anker)
    with anker.begin() as connection:
        connection.execute(insert(table), [{"id": key, "name": f"n{key}"} for key in range(ROWS)])
    plain = same_settings(DATABASES["sqlite"], sqlalchemy.create_engine, f"sqlite:///{path}")
    yield anker, plain, table
    anker.dispose()
    plain.dispose()


def calls_per_call(operation: Callable[[int], object], times: int = 40) -> float:
    """Python calls (built-ins too) of one ``operation``, after a warm-up: the fewest of
    three counts, each made with the garbage collector off. Only calls that are not the
    operation's can vary between counts (finalizers of other tests' garbage, run by a
    collection that happens to fall inside one: it failed CI once, 141.125 calls a read
    where 141 is the rule), and they only ever add."""
    for key in range(10):
        operation(key % ROWS)
    counts = []
    for _ in range(3):
        gc.collect()
        gc.disable()
        try:
            profile = cProfile.Profile()
            profile.enable()
            for key in range(times):
                operation(key % ROWS)
            profile.disable()
        finally:
            gc.enable()
        counts.append(float(pstats.Stats(profile).total_calls) / times)
    return min(counts)


def reader(engine: Engine, table: Table) -> Callable[[int], object]:
    query = table.info.get("read")
    if query is None:  # one statement object: a new one would cost SQLAlchemy calls of its own
        query = table.info["read"] = select(table.c.id, table.c.name).where(
            table.c.id == sqlalchemy.bindparam("id")
        )

    def read(key: int) -> object:
        with engine.connect() as connection:
            return connection.execute(query, {"id": key}).one()

    return read


def test_a_statement_costs_no_call_more_than_on_plain_sqlalchemy(
    engines: tuple[Engine, Engine, Table],
) -> None:
    anker, plain, table = engines
    query = select(table.c.name).where(table.c.id == sqlalchemy.bindparam("id"))

    def on(connection: sqlalchemy.Connection) -> Callable[[int], object]:
        return lambda key: connection.execute(query, {"id": key}).one()

    with anker.connect() as ours, plain.connect() as theirs:
        assert calls_per_call(on(ours)) == calls_per_call(on(theirs))


def test_a_checkout_costs_one_call_and_retrying_three_more(
    engines: tuple[Engine, Engine, Table],
) -> None:
    anker, plain, table = engines
    floor = calls_per_call(reader(plain, table))
    assert calls_per_call(reader(anker, table)) == floor + 1  # the pool's _do_get
    # retrying's wrapper, the nesting flag's set and reset (an int argument is not looked at)
    assert calls_per_call(retrying(reader(anker, table))) == floor + 4


def test_a_quieted_hook_takes_a_listener_added_later_and_errors_are_still_translated(
    engines: tuple[Engine, Engine, Table],
) -> None:
    anker, _, table = engines
    dispatch: Any = anker.dialect.dispatch
    assert all(isinstance(getattr(dispatch, name), tuple) for name in STATEMENT_HOOKS)
    seen: list[str] = []

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> None:
        seen.append(statement)

    event.listen(anker, "do_execute", do_execute)
    assert event.contains(anker, "do_execute", do_execute)
    assert reader(anker, table)(3) == (3, "n3")
    assert len(seen) == 1
    assert seen[0].startswith("SELECT")
    event.remove(anker, "do_execute", do_execute)
    reader(anker, table)(4)
    assert len(seen) == 1
    with pytest.raises(DBDuplicateEntry) as raised, anker.begin() as connection:
        connection.execute(insert(table).values(id=1, name="again"))
    assert raised.value.columns == ("id",)


def test_retrying_still_leaves_the_callers_transaction_alone_whatever_the_arguments(
    engines: tuple[Engine, Engine, Table],
) -> None:
    anker, _, _ = engines
    attempts: list[object] = []

    @retrying(max_retries=2, backoff=Backoff(first=0.001, cap=0.002))
    def work(number: int, text: str, *, connection: object = None, more: object = None) -> None:
        attempts.append(connection)
        raise DBDeadlock("sqlite:///x", "execute", "locked")

    with anker.begin() as connection:
        for arguments in (
            {"connection": connection},  # a keyword argument in a transaction
            {"more": [1], "connection": connection},
        ):
            attempts.clear()
            with pytest.raises(DBDeadlock):
                work(1, "a", **arguments)
            assert len(attempts) == 1
    attempts.clear()
    with pytest.raises(DBDeadlock):
        work(1, "a", connection=anker)  # an engine has no transaction: retried
    assert len(attempts) == 3


async def test_an_async_unit_of_work_nested_in_another_leaves_retrying_to_it() -> None:
    inner_calls: list[int] = []
    outer_calls: list[int] = []
    quick = Backoff(first=0.001, cap=0.002)

    @retrying(max_retries=3, backoff=quick)
    async def inner() -> None:
        inner_calls.append(1)
        raise DBDeadlock("sqlite:///x", "execute", "locked")

    @retrying(max_retries=2, backoff=quick)
    async def outer() -> None:
        outer_calls.append(1)
        await inner()

    with pytest.raises(DBDeadlock):
        await outer()
    assert (len(outer_calls), len(inner_calls)) == (3, 3)  # inner: once per outer attempt
    inner_calls.clear()
    with pytest.raises(DBDeadlock):
        await inner()  # on its own again: it retries
    assert len(inner_calls) == 4
