"""A benchmark's helper process that takes lines on stdin and answers in JSON lines on stdout.

The coordination and messaging benchmarks run each side's clients and servers in processes
of their own; this is what both talk to them through.
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["JsonLinesProcess"]

ROOT = Path(__file__).resolve().parents[2]


class JsonLinesProcess:
    """``python -m MODULE SPEC`` with its stdout read as JSON objects (other lines skipped)
    and the end of its stderr kept for error messages."""

    def __init__(self, module: str, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, json.dumps(spec)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)
            del self._stderr[:-40]

    def next_object(self, deadline: float, waiting_for: str = "an answer") -> dict[str, Any]:
        """The next JSON object it prints, waiting until ``deadline`` (monotonic) at most."""
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{self}: no {waiting_for} in time{self._tail()}") from None
            if line is None:
                time.sleep(0.1)  # let the stderr reader catch up
                raise RuntimeError(f"{self}: exited early{self._tail()}")
            with contextlib.suppress(ValueError):  # a library printing on stdout
                event = json.loads(line)
                if isinstance(event, dict):
                    return event

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        """SIGKILL it (if it still runs) and close its pipes."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10.0)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()

    def _tail(self) -> str:
        return (":\n" + "".join(self._stderr[-15:])) if self._stderr else ""
