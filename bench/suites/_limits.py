"""What the limits benchmarks share: stores, trees, and the sides of each workload.

``claims``: 8 concurrent claimers on one project, the leaf of a 3-level tree
(domain > project > leaf, every level with a limit far above what the run uses), claims/s:

- anker: ``Quota.claim(leaf, {"cores": 1})`` from 8 asyncio tasks on one event loop: the
  atomic check of all three levels and the reservation, on the store of the benchmark
  (each claim left pending; a fresh store per side);
- oslo.limit: ``Enforcer.enforce(leaf, {"cores": 1})`` from 8 threads (its API is blocking),
  under its ``LimitFixture`` (the limits are served from memory, so no Keystone round trip is
  measured) with the flat model (oslo.limit's strict-two-level raises ``NotImplementedError``),
  plus the usage count its callback must make: ``SELECT count(*)`` of the project's rows in a
  table of the same database (SQLite, PostgreSQL) or ``SCARD`` of its set (Redis), through
  the raw driver on one connection per thread. This only checks; nothing is reserved, so
  concurrent callers can all pass the check (the race the claim closes);
- oslo.limit + insert: the same, then the row (set member) the service writes when it
  creates the resource, autocommitted: the racy count-then-create a claim replaces.

``depth``: anker's claim rate on a chain of 1, 3 and 6 projects (the claim on the deepest
leaf, a limit on every level), 8 claimers: the anker side is depth 6, the others depth 1
and 3, so the ratio is the drop from depth 1 to 6.

Servers are the integration tests' (``ANKER_TEST_POSTGRES_URL``, ``ANKER_TEST_REDIS_URL``);
PostgreSQL sides each get a database of their own, Redis sides a key prefix of their own,
dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._harness import Benchmark, Measure, Side
from bench.suites._coord import loop_thread, server_url, unique

CLAIMERS = 8
#: far above any run: the benchmark measures the check and reservation, never a refusal
BIG = 10**12
STORES = ("sqlite", "postgresql", "redis")


@contextlib.contextmanager
def store_url(store: str) -> Iterator[str]:
    """A URL of an empty store of kind ``store``, removed afterwards."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite://{directory}/limits.db"
    elif store == "postgresql":
        with fresh_postgres() as url:
            yield url
    else:
        prefix = unique("bench") + ":"
        url = server_url("redis")
        try:
            yield f"{url}?prefix={prefix}"
        finally:
            import redis

            client = redis.Redis.from_url(url)
            keys = list(client.scan_iter(f"{prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            client.close()


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str]:
    import psycopg

    server = server_url("postgresql")
    name = unique("limits")
    base = server.rpartition("/")[0]
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def chain(depth: int) -> list[str]:
    """The projects of a chain ``depth`` deep, root first."""
    return [f"level{index}" for index in range(depth)]


def anker_side(
    store: str, depth: int, name: str, *, is_anker: bool, options: dict[str, str] | None = None
) -> Side:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        from anker.limits import Quota

        with store_url(store) as url, loop_thread() as call:
            quota = call(Quota.open(url, upgrade=True, lease=3600, timeout=30, **(options or {})))
            try:
                names = chain(depth)
                call(quota.set_default("cores", BIG))
                for parent, project in zip([None, *names], names, strict=False):
                    call(quota.set_project(project, parent))
                    call(quota.set_limit(project, "cores", BIG))
                leaf = names[-1]

                async def claimers(count: int) -> float:
                    share = [count // CLAIMERS + (i < count % CLAIMERS) for i in range(CLAIMERS)]

                    async def claimer(claims: int) -> None:
                        for _ in range(claims):
                            await quota.claim(leaf, {"cores": 1})

                    began = time.perf_counter()
                    await asyncio.gather(*(claimer(n) for n in share))
                    return count / (time.perf_counter() - began)

                def measure(count: int) -> float:
                    return call(claimers(count))

                yield measure
            finally:
                call(quota.aclose())

    return Side(name, opened, is_anker=is_anker, requires=("sqlalchemy",))


def _counter(
    store: str, url: str, project: str
) -> tuple[Callable[[], Any], Callable[[], None], Callable[[], None]]:
    """A per-thread usage count of ``project``'s rows, the record of one more row (what the
    service writes when it creates the resource), and a cleanup."""
    local = threading.local()
    opened: list[Any] = []
    if store == "redis":
        import redis

        client = redis.Redis.from_url(url.partition("?")[0])
        key = url.partition("prefix=")[2] + "instances:" + project
        client.sadd(key, *[f"i{n}" for n in range(100)])

        def count() -> int:
            return int(client.scard(key))

        def record() -> None:
            client.sadd(key, uuid.uuid4().hex)

        def close() -> None:
            client.delete(key)
            client.close()

        return count, record, close
    if store == "sqlite":
        import sqlite3

        path = url.removeprefix("sqlite://")

        def connect() -> Any:
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode = WAL")  # as anker's: fair to both
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA busy_timeout = 30000")
            return connection

        query = "SELECT count(*) FROM instances WHERE project_id = ?"
        insert = "INSERT INTO instances (project_id) VALUES (?)"
    else:
        import psycopg

        def connect() -> Any:
            return psycopg.connect(url, autocommit=True)

        query = "SELECT count(*) FROM instances WHERE project_id = %s"
        insert = "INSERT INTO instances (project_id) VALUES (%s)"
    setup = connect()
    serial = "INTEGER PRIMARY KEY" if store == "sqlite" else "SERIAL PRIMARY KEY"
    setup.execute(f"CREATE TABLE instances (id {serial}, project_id VARCHAR(64))")
    setup.execute("CREATE INDEX instances_project ON instances (project_id)")
    for _ in range(100):
        setup.execute(f"INSERT INTO instances (project_id) VALUES ('{project}')")
    setup.commit()
    setup.close()

    def mine() -> Any:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = connect()
            opened.append(connection)
        return connection

    def count() -> int:
        return int(mine().execute(query, (project,)).fetchone()[0])

    def record() -> None:
        mine().execute(insert, (project,))

    def close() -> None:
        for connection in opened:
            connection.close()

    return count, record, close


def oslo_limit_side(store: str, *, create: bool = False) -> Side:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        from oslo_config import cfg
        from oslo_limit import fixture, limit, opts

        with contextlib.suppress(cfg.DuplicateOptError):
            opts.register_opts(cfg.CONF)
        cfg.CONF.set_override("endpoint_id", "bench-endpoint", group="oslo_limit")
        names = chain(3)
        leaf = names[-1]
        limits = fixture.LimitFixture({"cores": BIG}, {name: {"cores": BIG} for name in names})
        limits.setUp()
        with contextlib.ExitStack() as stack:
            stack.callback(limits.cleanUp)
            url = stack.enter_context(store_url(store))
            if store == "sqlite":
                Path(url.removeprefix("sqlite://")).touch()
            count, record, close = _counter(store, url, leaf)
            stack.callback(close)

            def usage(project_id: str, resources: list[str]) -> dict[str, int]:
                return dict.fromkeys(resources, count())

            enforcer = limit.Enforcer(usage)
            pool = stack.enter_context(ThreadPoolExecutor(CLAIMERS))

            def measure(count_: int) -> float:
                share = [count_ // CLAIMERS + (i < count_ % CLAIMERS) for i in range(CLAIMERS)]

                def claimer(claims: int) -> None:
                    for _ in range(claims):
                        enforcer.enforce(leaf, {"cores": 1})
                        if create:
                            record()

                began = time.perf_counter()
                for done in [pool.submit(claimer, n) for n in share]:
                    done.result()
                return count_ / (time.perf_counter() - began)

            yield measure

    name = "oslo.limit + insert" if create else "oslo.limit"
    return Side(name, opened, requires=("oslo_limit", "fixtures"))


def claims_benchmark(store: str) -> Benchmark:
    return Benchmark(
        name=f"limits-claims-{store.removesuffix('ql')}",
        description=(
            f"{CLAIMERS} concurrent claimers on one leaf of a 3-level tree on {store}: anker's "
            f"atomic claim (check all levels + reserve) against oslo.limit's enforce() "
            f"(LimitFixture, flat) plus its usage count on the same database"
        ),
        unit="claims/s",
        higher_is_better=True,
        sides=(
            anker_side(store, 3, "anker", is_anker=True),
            *(
                # PostgreSQL's default is a durable commit per claim; this shows what
                # synchronous_commit=off (the operator's choice) gains
                [
                    anker_side(
                        store,
                        3,
                        "anker synchronous=normal",
                        is_anker=False,
                        options={"synchronous": "normal"},
                    )
                ]
                if store == "postgresql"
                else []
            ),
            oslo_limit_side(store),
            oslo_limit_side(store, create=True),
        ),
        count=2000 if store != "postgresql" else 1000,
        smoke_count=16,
        reps=5,
    )


def depth_benchmark(store: str) -> Benchmark:
    return Benchmark(
        name=f"limits-depth-{store.removesuffix('ql')}",
        description=(
            f"anker's claim rate on {store} with {CLAIMERS} claimers at the leaf of a chain "
            f"6 deep (the anker side) against 1 and 3 deep: the ratio is the drop with depth"
        ),
        unit="claims/s",
        higher_is_better=True,
        sides=(
            anker_side(store, 6, "depth 6", is_anker=True),
            anker_side(store, 1, "depth 1", is_anker=False),
            anker_side(store, 3, "depth 3", is_anker=False),
        ),
        count=2000 if store != "postgresql" else 1000,
        smoke_count=16,
        reps=5,
    )
