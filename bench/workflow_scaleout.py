"""Scale-out: 1, 2 and 4 engine processes on one PostgreSQL database run 1,000 short
workflows (3 steps, each writing its side effect); workflows/s at each. Then the same with one
engine SIGKILLed mid-run: every workflow must complete exactly once and the killed engine's
runs be taken over after their lease.

    .venv-bench/bin/python -m bench.workflow_scaleout [--runs N] [--workflows N] [--lease S]

Each measurement uses a fresh database. The runs are submitted first (no engine claims them);
the engine processes start, import and connect, say ready, and are told to go at once: the
time runs from "go" (each engine's ``Engine.open`` included) to the last run's SUCCEEDED
commit. Each step writes, in one autocommitted statement, a row to ``bench_executions``
(every execution) and its idempotency key to ``bench_effects`` (primary key, ``ON CONFLICT DO
NOTHING``: the exactly-once side effect a task makes with ``ctx.key``).

Checks, after every measurement: every run SUCCEEDED, with exactly one run-SUCCEEDED
transition in its history; ``bench_effects`` holds every step's key, once. After a kill: a
step executed twice is one that the store showed RUNNING under the killed engine when it died
(its in-flight step), at most one per run; no step that had succeeded ran again; the first
transition of each run the killed engine held comes after the lease the store showed for it
at the kill (its last renewal, up to a third of a lease before, later on a loaded machine).

A script, not a suite of ``python -m bench``: it SIGKILLs processes. Engines use the default
``max_runs`` (100) and ``poll=0.05``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

STEPS = 3
SERVER = os.environ.get("ANKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

TABLES = """
CREATE TABLE bench_executions (key text NOT NULL, engine text NOT NULL, at float8 NOT NULL);
CREATE TABLE bench_effects (key text PRIMARY KEY, engine text NOT NULL);
"""
EFFECT = """
WITH logged AS (INSERT INTO bench_executions VALUES (%(key)s, %(engine)s, %(at)s))
INSERT INTO bench_effects VALUES (%(key)s, %(engine)s) ON CONFLICT (key) DO NOTHING
"""
ACTIVE = "('PENDING', 'RUNNING', 'REVERTING')"


def short_workflow(effect: object) -> object:
    from anker.workflow import Task, TaskContext, Workflow, sequence

    def step(i: int) -> Task:
        async def execute(ctx: TaskContext) -> int:
            await effect(ctx.key)  # type: ignore[operator]
            return i

        return Task(f"s{i}", execute)

    return Workflow("short", sequence(*(step(i) for i in range(STEPS))))


# -- one engine process ---------------------------------------------------------------------


async def child(url: str, engine_id: str, lease: float) -> None:
    import psycopg

    from anker.workflow import Engine

    effects = await psycopg.AsyncConnection.connect(url, autocommit=True)

    async def effect(key: str) -> None:
        parameters = {"key": key, "engine": engine_id, "at": time.time()}
        await effects.execute(EFFECT, parameters)

    flow = short_workflow(effect)
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    async with await Engine.open(url, [flow], lease=lease, poll=0.05, engine_id=engine_id):  # type: ignore[list-item]
        await loop.run_in_executor(None, sys.stdin.readline)  # "stop", or SIGKILL
    await effects.close()


# -- the parent -----------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    import psycopg

    name = f"wfscale{os.getpid()}"
    base = SERVER.rpartition("/")[0]
    with psycopg.connect(SERVER, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(SERVER, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def submit(url: str, count: int) -> list[str]:
    from anker.workflow import Engine

    async def effect(key: str) -> None:  # never runs here
        raise AssertionError(key)

    flow = short_workflow(effect)
    async with await Engine.open(url, [flow], upgrade=True, recover=False) as engine:  # type: ignore[list-item]
        ids: list[str] = []
        for first in range(0, count, 50):
            chunk = range(first, min(count, first + 50))
            ids += await asyncio.gather(*(engine.submit(flow) for _ in chunk))  # type: ignore[arg-type]
        return ids


@dataclass
class Kill:
    """What the store showed just after the kill: the dead engine's runs and running steps."""

    at: float = 0.0
    orphans: set[str] = field(default_factory=set)
    inflight: set[str] = field(default_factory=set)
    expires: dict[str, float] = field(default_factory=dict)  # their leases' ends


@dataclass
class Result:
    engines: int
    seconds: float
    killed: bool = False
    rerun: int = 0
    taken_over: int = 0
    takeover: tuple[float, float] = (0.0, 0.0)  # first and last, seconds after the kill
    reclaimed: int = 0  # runs taken from a live engine (its lease ran out)

    workflows: int = 0

    @property
    def rate(self) -> float:
        return self.workflows / self.seconds


def measure(workflows: int, engines: int, lease: float, kill: bool) -> Result:
    import psycopg

    with fresh_database() as url:
        ids = asyncio.run(submit(url, workflows))
        db = psycopg.connect(url, autocommit=True)
        db.execute(TABLES)
        names = [f"engine{i}" for i in range(engines)]
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.workflow_scaleout", "--child", url, name, str(lease)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for name in names
        ]
        try:
            for process in processes:
                assert process.stdout is not None
                assert process.stdout.readline() == "ready\n"
            go = time.time()
            for process in processes:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            killed = Kill()
            while True:
                done = db.execute(
                    "SELECT count(*) FROM anker_workflow_runs WHERE state = 'SUCCEEDED'"
                ).fetchone()
                assert done is not None
                if done[0] == workflows:
                    break
                if kill and not killed.at and done[0] >= workflows * 0.3:
                    processes[0].kill()
                    processes[0].wait()
                    killed.at = time.time()
                    # the dead engine's runs and the steps it was running: nobody may touch
                    # them until their lease runs out
                    killed.expires = dict(
                        db.execute(
                            "SELECT id, lease_expires FROM anker_workflow_runs WHERE owner = %s"
                            f" AND state IN {ACTIVE}",
                            (names[0],),
                        ).fetchall()
                    )
                    killed.orphans = set(killed.expires)
                    killed.inflight = {
                        row[0]
                        for row in db.execute(
                            "SELECT key FROM anker_workflow_tasks WHERE state = 'RUNNING'"
                            " AND run_id = ANY(%s)",
                            (list(killed.orphans),),
                        )
                    }
                if time.time() - go > 600:
                    raise TimeoutError("the runs did not finish in 600 s")
                time.sleep(0.02)
            last = db.execute("SELECT max(updated) FROM anker_workflow_runs").fetchone()
            assert last is not None
            for process in processes[1 if kill else 0 :]:
                assert process.stdin is not None
                process.stdin.write("stop\n")
                process.stdin.flush()
            for process in processes:
                process.wait(timeout=60)
                dead = kill and process is processes[0]
                assert process.returncode == (-signal.SIGKILL if dead else 0)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        result = Result(engines, last[0] - go, killed=kill, workflows=workflows)
        check(db, ids, result, killed)
        db.close()
        return result


def check(
    db: object,
    ids: list[str],
    result: Result,
    killed: Kill,
) -> None:
    """Every run completed exactly once, each side effect made once; after a kill, only the
    killed engine's in-flight steps ran again, its runs taken over after the lease."""
    execute = db.execute  # type: ignore[attr-defined]
    states = dict(execute("SELECT id, state FROM anker_workflow_runs").fetchall())
    assert set(states) == set(ids)
    assert set(states.values()) == {"SUCCEEDED"}, Counter(states.values())
    ended = Counter(
        row[0]
        for row in execute(
            "SELECT run_id FROM anker_workflow_history WHERE task IS NULL AND new = 'SUCCEEDED'"
        )
    )
    assert set(ended) == set(ids)
    assert set(ended.values()) == {1}, "a run completed twice"
    keys = {f"{run_id}:s{i}" for run_id in ids for i in range(STEPS)}
    effects = [row[0] for row in execute("SELECT key FROM bench_effects")]
    assert len(effects) == len(keys), "a side effect made twice"
    assert set(effects) == keys, "a side effect missing"
    executions = Counter(row[0] for row in execute("SELECT key FROM bench_executions"))
    assert set(executions) == keys
    twice = {key for key, n in executions.items() if n > 1}
    assert all(n <= 2 for n in executions.values()), "a step ran three times"
    assert twice <= killed.inflight, f"steps not in flight at the kill ran again: {twice}"
    result.rerun = len(twice)
    # runs claimed again although their engine lived (its lease ran out under load)
    claims = dict(execute("SELECT id, generation FROM anker_workflow_runs").fetchall())
    result.reclaimed = sum(1 for run_id, n in claims.items() if n > 1) - len(killed.orphans)
    if not result.killed:
        assert not twice
        return
    orphans = killed.orphans
    assert orphans, "the killed engine held no run"
    firsts = dict(
        execute(
            "SELECT run_id, min(at) FROM anker_workflow_history WHERE run_id = ANY(%s)"
            " AND at > %s GROUP BY run_id",
            (list(orphans), killed.at),
        ).fetchall()
    )
    assert set(firsts) == orphans
    # the store's clock and the engines' are this host's
    early = {run_id: killed.expires[run_id] - at for run_id, at in firsts.items()}
    assert max(early.values()) <= 0.01, f"taken over before its lease ran out: {early}"
    delays = sorted(at - killed.at for at in firsts.values())
    result.taken_over = len(orphans)
    result.takeover = (delays[0], delays[-1])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workflow_scaleout")
    parser.add_argument("--runs", type=int, default=3, help="measurements per engine count")
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--lease", type=float, default=2.0, help="lease of the kill runs (s)")
    parser.add_argument("--engines", default="1,2,4")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, engine_id, lease = args.child
        asyncio.run(child(url, engine_id, float(lease)))
        return
    print(
        f"{args.workflows} workflows of {STEPS} steps, PostgreSQL on loopback, "
        f"{os.cpu_count()} cores shared by the engines and the server"
    )
    for count in (int(n) for n in args.engines.split(",")):
        results = [measure(args.workflows, count, 30.0, kill=False) for _ in range(args.runs)]
        rates = [r.rate for r in results]
        print(
            f"{count} engine(s): {statistics.median(rates):.0f} workflows/s median "
            f"(min {min(rates):.0f}, max {max(rates):.0f}, {args.runs} runs); "
            f"every run completed once, every side effect once; runs taken from a live "
            f"engine {sum(r.reclaimed for r in results)}"
        )
    for count in (int(n) for n in args.engines.split(",") if int(n) > 1):
        for _ in range(args.runs):
            r = measure(args.workflows, count, args.lease, kill=True)
            print(
                f"{count} engines, one SIGKILLed at 30% (lease {args.lease:g} s): "
                f"{r.rate:.0f} workflows/s; every run completed once, every side effect once; "
                f"{r.taken_over} runs taken over {r.takeover[0]:.2f}-{r.takeover[1]:.2f} s "
                f"after the kill; steps run twice {r.rerun} (the dead engine's in-flight ones); "
                f"runs taken from a live engine {r.reclaimed}"
            )


if __name__ == "__main__":
    main()
