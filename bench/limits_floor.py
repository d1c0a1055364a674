"""The floor under the limits-claims benchmarks: what a batch of 8 claims of one leaf costs at
the least, with the raw drivers on one connection and no checks at all.

One transaction per batch: an ``UPDATE`` of the 3 counters of the leaf's path and an ``INSERT``
of the 8 claim rows, in tables with the claims table's indexes (id, project, expires), one
batch after another (batches of one leaf serialize on its counters anyway). SQLite in WAL
mode with ``synchronous=NORMAL`` (the store's default); PostgreSQL as one autocommitted
statement, durable (``synchronous_commit=on``) and not (``off``). Prints the time per batch
and the claims/s it allows::

    python -m bench.limits_floor [--batches N]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import uuid

from bench.suites._limits import store_url

BATCH = 8
_TABLES = (
    "CREATE TABLE u (project text, resource text, used bigint, PRIMARY KEY (project, resource))",
    "CREATE TABLE cl (id text PRIMARY KEY, project text, resources text, expires real)",
    "CREATE INDEX cl_project ON cl (project)",
    "CREATE INDEX cl_expires ON cl (expires)",
    "INSERT INTO u VALUES ('a', 'cores', 0), ('b', 'cores', 0), ('c', 'cores', 0)",
)


def report(what: str, seconds: float) -> None:
    rate = BATCH / seconds
    print(f"{what}: {seconds * 1e6:,.0f} us per batch of {BATCH}: at most {rate:,.0f} claims/s")


def postgres(batches: int) -> None:
    import psycopg

    with store_url("postgresql") as url, psycopg.connect(url, autocommit=True) as connection:
        for statement in _TABLES:
            connection.execute(statement)
        for synchronous in ("on", "off"):
            connection.execute(f"SET synchronous_commit = {synchronous}")
            began = time.perf_counter()
            for _ in range(batches):
                ids = [uuid.uuid4().hex for _ in range(BATCH)]
                connection.execute(
                    "WITH added AS (UPDATE u SET used = used + %s WHERE project = ANY(%s)"
                    " RETURNING 1) INSERT INTO cl SELECT i, 'c', '{\"cores\": 1}', 1e12"
                    " FROM unnest(%s::text[]) i",
                    (BATCH, ["a", "b", "c"], ids),
                )
            report(
                f"postgresql synchronous_commit={synchronous}",
                (time.perf_counter() - began) / batches,
            )


def sqlite(batches: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        connection = sqlite3.connect(f"{directory}/floor.db", isolation_level=None)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        for statement in _TABLES:
            connection.execute(statement)
        began = time.perf_counter()
        for _ in range(batches):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "UPDATE u SET used = used + ? WHERE project IN ('a', 'b', 'c')", (BATCH,)
            )
            connection.executemany(
                "INSERT INTO cl VALUES (?, 'c', '{\"cores\": 1}', 1e12)",
                [(uuid.uuid4().hex,) for _ in range(BATCH)],
            )
            connection.execute("COMMIT")
        report("sqlite synchronous=NORMAL", (time.perf_counter() - began) / batches)
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--batches", type=int, default=400)
    batches = parser.parse_args().batches
    sqlite(batches)
    postgres(batches)


if __name__ == "__main__":
    main()
