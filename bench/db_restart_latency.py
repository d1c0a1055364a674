"""python -m bench.db_restart_latency [--database postgresql|mariadb ...] [--runs N] [--outage S]

How soon after a restarted database server takes connections again a retrying unit of work
returns: anker's ``retrying`` against oslo.db's ``wrap_db_retry(retry_on_disconnect=True)``
(its defaults: 1 s, doubling, up to 10 s), on a private PostgreSQL or MariaDB server (the
restart tests' own, never a shared one).

Each run: every side runs one unit of work (``SELECT 1``) so its pool holds an idle connection;
the server stops (fast shutdown); each side starts a unit of work in a thread of its own; after
``--outage`` seconds the server is started again and probed every 5 ms until it takes a
connection (``ready``). A side's latency is the time its unit of work returned minus ``ready``
(0 when it returned before the probe saw the server back). Sides share each outage, so they
are compared on the same restarts. Prints median, min and max per side over the runs, and the
runs a side failed (its error).

Sides: anker (``retrying``, default backoff: failures to connect wait at most 100 ms); anker's
previous behaviour (every retry on the 20 ms..1 s backoff), for comparison; oslo.db. A script,
not a suite of ``python -m bench``: it needs private servers (``initdb``, ``mariadbd``).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
import time
import types
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration" / "db"))

from private_servers import (  # the restart tests' private servers
    NoPrivateServer,
    PrivateServer,
    running_private_server,
    server_user,
)

#: SQLAlchemy's driver of each server, for oslo.db
DRIVERS = {"postgresql": "postgresql+psycopg", "mariadb": "mysql+pymysql"}

Work = Callable[[], object]


def anker_side(url: str) -> tuple[Work, Callable[[], None]]:
    from sqlalchemy import text

    from anker.db import create_engine, retrying

    engine = create_engine(url, connect_timeout="2s")

    @retrying
    def work() -> object:
        with engine.connect() as connection:
            return connection.execute(text("SELECT 1")).scalar_one()

    return work, engine.dispose


def anker_before_side(url: str) -> tuple[Work, Callable[[], None]]:
    """What ``retrying`` did before failures to connect got their own short delays."""
    from sqlalchemy import text

    from anker.db import DBConnectionError, create_engine
    from anker.drivers import Backoff

    engine = create_engine(url, connect_timeout="2s")

    def work() -> object:
        backoff = Backoff(first=0.02, cap=1.0, deadline=30.0)
        while True:
            try:
                with engine.connect() as connection:
                    return connection.execute(text("SELECT 1")).scalar_one()
            except DBConnectionError:
                if backoff.expired:
                    raise
                time.sleep(backoff.next_delay())

    return work, engine.dispose


def oslo_side(url: str, server: PrivateServer) -> tuple[Work, Callable[[], None]]:
    from oslo_db import api
    from oslo_db.sqlalchemy import enginefacade
    from sqlalchemy import text

    credentials = "postgres" if server.name == "postgresql" else "root"
    database = "postgres" if server.name == "postgresql" else "mysql"
    facade = enginefacade.transaction_context()
    facade.configure(
        connection=f"{DRIVERS[server.name]}://{credentials}@127.0.0.1:{server.port}/{database}"
    )
    reader = facade.reader.connection

    @api.wrap_db_retry(max_retries=20, retry_on_disconnect=True)
    def work() -> object:
        with reader.using(types.SimpleNamespace()) as connection:
            return connection.execute(text("SELECT 1")).scalar_one()

    return work, facade.dispose_pool


def measure(server: PrivateServer, runs: int, outage: float) -> dict[str, list[float | str]]:
    sides = {
        "anker retrying": anker_side(server.url),
        "anker, 1 s cap (before)": anker_before_side(server.url),
        "oslo.db wrap_db_retry": oslo_side(server.url, server),
    }
    results: dict[str, list[float | str]] = {name: [] for name in sides}
    try:
        with ThreadPoolExecutor(len(sides)) as pool:
            for run in range(runs):
                for work, _ in sides.values():
                    work()  # each pool holds a connection, idle, as a service's does
                server.stop()
                started = {name: pool.submit(_timed, work) for name, (work, _) in sides.items()}
                time.sleep(outage)
                server.launch()
                ready = server.wait_ready()
                for name, future in started.items():
                    results[name].append(_latency(future, ready))
                shown = ", ".join(f"{name}: {_show(results[name][-1])}" for name in sides)
                print(f"  {server.name} run {run + 1}/{runs}: {shown}", flush=True)
    finally:
        for _, dispose in sides.values():
            dispose()
    return results


def _timed(work: Work) -> float:
    """Run ``work``; the monotonic time it returned."""
    work()
    return time.monotonic()


def _latency(future: Future[float], ready: float) -> float | str:
    """Seconds from ``ready`` until the unit of work returned, or its error."""
    try:
        returned = future.result(timeout=120)
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return max(0.0, returned - ready)


def _show(value: float | str) -> str:
    return f"{value * 1000:.0f} ms" if isinstance(value, float) else "failed"


def report(name: str, results: dict[str, list[float | str]]) -> None:
    print(f"\n{name}: latency from the server taking connections to the call returning")
    for side, values in results.items():
        times = [value for value in values if isinstance(value, float)]
        failed = [value for value in values if isinstance(value, str)]
        line = f"  {side:<26}"
        if times:
            line += (
                f" median {statistics.median(times) * 1000:6.0f} ms"
                f"  min {min(times) * 1000:5.0f}  max {max(times) * 1000:5.0f}"
            )
        if failed:
            line += f"  failed {len(failed)}/{len(values)} ({failed[0]})"
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.db_restart_latency")
    parser.add_argument("--database", action="append", choices=sorted(DRIVERS))
    parser.add_argument("--runs", type=int, default=7, help="restarts per database")
    parser.add_argument("--outage", type=float, default=2.0, help="seconds the server is down")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # oslo.db logs every retry
    for name in args.database or sorted(DRIVERS):
        try:
            user = server_user(name)
        except NoPrivateServer as why:
            print(f"{name}: no private server here: {why}", file=sys.stderr)
            return 1
        servers = running_private_server(name, user)
        server = next(servers)
        try:
            report(name, measure(server, args.runs, args.outage))
        finally:
            servers.close()
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "main"  # the private servers follow this thread
    sys.exit(main())
