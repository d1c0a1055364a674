"""Health endpoints under load: ``wrk -t2 -c32`` for ``count`` seconds, requests/s with p99
latency (ms) as an extra; side by side in one run.

Sides:

* anker: ``/readyz`` of ``anker.health`` (two checks, answered from the cache the registry
  refreshes in the background), its standalone endpoint: uvicorn with uvloop and httptools,
  one process;
* oslo.middleware's healthcheck, its default reply and its JSON reply, under gunicorn with 2
  sync workers (the issue's measurement: ~954 and ~2,795 requests/s on this kind of machine);
* anker's WSGI middleware on the same gunicorn (each request handed to the worker's
  background event loop);
* the floors: a trivial WSGI app on the same gunicorn, a trivial Starlette app on the same
  uvicorn.

The issue's target: anker at least 5x oslo.middleware's default reply, p99 under 10 ms.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from bench._harness import Benchmark, Measure, Measured, Side, Unavailable

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 32
THREADS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on {port} within {timeout} s")


def wrk(url: str, seconds: int, headers: tuple[str, ...] = ()) -> Measured:
    """Run wrk; requests/s, with the p99 latency in ms as an extra."""
    arguments = [f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for header in headers:
        arguments += ["-H", header]
    done = subprocess.run(
        ["wrk", *arguments, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", done.stdout, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if rate is None or p99 is None:
        raise RuntimeError(f"cannot read wrk's output:\n{done.stdout}")
    if errors:
        raise RuntimeError(f"{errors[1]} answers were not 2xx: {url}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99[2]]
    return Measured(float(rate[1]), {"p99_ms": float(p99[1]) * scale})


def server_side(
    command: Callable[[int], list[str]], path: str, headers: tuple[str, ...] = ()
) -> Callable[[], AbstractContextManager[Measure]]:
    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        if shutil.which("wrk") is None:
            raise Unavailable("wrk is not installed (Debian's wrk; scripts/services installs it)")
        port = free_port()
        process = subprocess.Popen(
            command(port), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_listening(port, process)
            url = f"http://127.0.0.1:{port}{path}"
            yield lambda seconds: wrk(url, seconds, headers)
        finally:
            process.terminate()
            process.wait(timeout=30)

    return opened


def uvicorn_server(kind: str) -> Callable[[int], list[str]]:
    return lambda port: [sys.executable, "-m", "bench.suites._health_servers", kind, str(port)]


def gunicorn_server(app: str) -> Callable[[int], list[str]]:
    return lambda port: [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        f"bench.suites._health_servers:{app}",
    ]


UVICORN = ("uvicorn", "uvloop", "httptools")
BENCHMARK = Benchmark(
    name="health",
    description=f"health endpoints under wrk -t{THREADS} -c{CONNECTIONS} (count: seconds)",
    unit="requests/s",
    higher_is_better=True,
    sides=(
        Side(
            "anker /readyz (uvicorn)",
            server_side(uvicorn_server("anker"), "/readyz"),
            is_anker=True,
            requires=("anker", *UVICORN),
        ),
        Side(
            "anker WSGI /readyz (gunicorn)",
            server_side(gunicorn_server("anker_wsgi()"), "/readyz"),
            requires=("anker", "gunicorn"),
        ),
        Side(
            "oslo.middleware (gunicorn)",
            server_side(gunicorn_server("oslo_app()"), "/healthcheck"),
            requires=("oslo_middleware", "gunicorn"),
        ),
        Side(
            "oslo.middleware JSON",
            server_side(
                gunicorn_server("oslo_app()"), "/healthcheck", ("Accept: application/json",)
            ),
            requires=("oslo_middleware", "gunicorn"),
        ),
        Side(
            "trivial WSGI (gunicorn)",
            server_side(gunicorn_server("trivial_wsgi"), "/"),
            requires=("gunicorn",),
        ),
        Side(
            "trivial Starlette (uvicorn)",
            server_side(uvicorn_server("starlette"), "/"),
            requires=("starlette", *UVICORN),
        ),
    ),
    count=10,
    smoke_count=1,
    reps=3,
)
