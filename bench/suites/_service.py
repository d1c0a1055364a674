"""Driving the ``service-*`` benchmarks' service processes (``_service_app``) from outside."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from bench._harness import Measure, Side

ROOT = Path(__file__).resolve().parents[2]
#: a line the service must print within this many seconds, or the sample fails
TIMEOUT = 30.0


class App:
    """One service process; :meth:`next` reads its next ``WORKER``/``TICK`` line."""

    def __init__(self, side: str, interval: float, workers: int = 1, work: float = 0.0) -> None:
        self.spawned = time.time()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.suites._service_app", side, str(interval),
             str(workers), str(work)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # its own process group: stop() kills the workers too
        )  # fmt: skip
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put("")

    def next(self, kind: str) -> tuple[int, float]:
        """The pid and time of the next line of ``kind`` (``WORKER`` or ``TICK``)."""
        ends = time.monotonic() + TIMEOUT
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, ends - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no {kind} line within {TIMEOUT} s") from None
            if not line:
                raise RuntimeError(f"the service exited ({self.process.wait()}) before {kind}")
            what, pid, when = line.split()
            if what == kind:
                return int(pid), float(when)

    def stop(self) -> None:
        """Kill the service and its workers (what is measured is over; an idle oslo.service
        would wait for its next timer tick)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


@contextlib.contextmanager
def app(side: str, interval: float, workers: int = 1, work: float = 0.0) -> Iterator[App]:
    running = App(side, interval, workers, work)
    try:
        yield running
    finally:
        running.stop()


SIDES = (
    ("anker", "anker", ("anker",)),
    ("oslo.service (eventlet)", "oslo-eventlet", ("oslo_service", "eventlet")),
)


def sides(measure_of: Callable[[str], Measure]) -> tuple[Side, ...]:
    """The anker side and the oslo.service side, each measuring with ``measure_of(side)``."""

    def opener(side: str) -> Callable[[], AbstractContextManager[Measure]]:
        @contextlib.contextmanager
        def opened() -> Iterator[Measure]:
            yield measure_of(side)

        return opened

    return tuple(
        Side(name, opener(side), is_anker=side == "anker", requires=requires)
        for name, side, requires in SIDES
    )
