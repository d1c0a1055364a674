"""Restart to first resumed step: an engine running a 100-step workflow is SIGKILLed during
step 50; a new engine process (same ``engine_id``) is started at once. Reports, per store, the
seconds from starting the new process (its Python start-up and imports included) until the
resumed step begins, and the steps lost and completed steps run again (both must be 0).

    .venv-bench/bin/python -m bench.workflow_restart [--runs N]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = 100
KILL_AT = 50

CHILD = """
import asyncio, os, signal, sys, time
from anker.workflow import Engine, Task, Workflow, sequence

url, log, mode = sys.argv[1:4]

def step(i):
    async def execute(ctx):
        with open(log, "a") as f:
            f.write(f"{i} {os.getpid()} {time.time()}\\n")
        if mode == "start" and i == KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)
    return Task(f"s{i}", execute)

flow = Workflow("restart", sequence(*(step(i) for i in range(STEPS))))

async def main():
    async with await Engine.open(url, [flow], upgrade=mode == "start", engine_id="bench-1",
                                 recover=mode != "start") as engine:
        if mode == "start":
            await engine.run(flow)
        else:
            while (await engine.store.runs())[0].state.value != "SUCCEEDED":
                await asyncio.sleep(0.01)

asyncio.run(main())
""".replace("KILL_AT", str(KILL_AT)).replace("range(STEPS)", f"range({STEPS})")


def one(url: str, directory: Path) -> tuple[float, int, int]:
    log = directory / "log"
    log.unlink(missing_ok=True)
    script = directory / "child.py"
    script.write_text(CHILD)
    first = subprocess.run([sys.executable, str(script), url, str(log), "start"], check=False)
    assert first.returncode == -signal.SIGKILL, first
    started = time.time()
    second = subprocess.run(
        [sys.executable, str(script), url, str(log), "serve"], check=True, timeout=120
    )
    assert second.returncode == 0
    lines = [line.split() for line in log.read_text().splitlines()]
    first_pid = lines[0][1]
    after = [(int(i), float(at)) for i, pid, at in lines if pid != first_pid]
    steps = [int(i) for i, _, _ in lines]
    lost = len(set(range(STEPS)) - set(steps))
    again = len(steps) - STEPS - 1  # the in-flight step runs twice by design
    return after[0][1] - started, lost, max(again, 0)


def fresh_postgres() -> tuple[str, str]:
    import psycopg

    default = "postgresql://postgres@127.0.0.1:5432/postgres"
    server = os.environ.get("ANKER_TEST_POSTGRES_URL", default)
    name = f"wfrestart{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return server, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for store in ("sqlite", "postgresql"):
        samples = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as directory:
                if store == "sqlite":
                    url = f"sqlite://{directory}/wf.db"
                    samples.append(one(url, Path(directory)))
                else:
                    import psycopg

                    server, name = fresh_postgres()
                    try:
                        url = f"{server.rpartition('/')[0]}/{name}"
                        samples.append(one(url, Path(directory)))
                    finally:
                        with psycopg.connect(server, autocommit=True) as connection:
                            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        seconds = [s for s, _, _ in samples]
        print(
            f"{store}: restart to first resumed step median {statistics.median(seconds):.3f} s "
            f"(min {min(seconds):.3f}, max {max(seconds):.3f}, {args.runs} runs); steps lost "
            f"{sum(s[1] for s in samples)}, completed steps run again {sum(s[2] for s in samples)}"
        )


if __name__ == "__main__":
    main()
