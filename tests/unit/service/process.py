"""A service in a child process, its output read line by line (tests wait on lines)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).parent
ANKER = str(Path(sys.executable).with_name("anker"))
#: generous: the machine running the tests is shared and may be loaded
DEADLINE = 60.0


class ServiceProcess:
    """``anker run sample_service:make`` (or ``target``) with ``env`` added."""

    def __init__(self, target: str = "sample_service:make", *options: str, **env: str) -> None:
        environment = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [ANKER, "run", *options, target],
            cwd=HERE,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a process group of its own, as a terminal's job is
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = DEADLINE, start: int = 0) -> re.Match[str]:
        """The first line (from index ``start``) matching ``pattern``, waiting for it."""
        compiled = re.compile(pattern)
        ends = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    found = compiled.search(line)
                    if found:
                        return found
                left = ends - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r}; output:\n{self.output}")
                self._changed.wait(min(left, 0.5))

    def send(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def exit_code(self, timeout: float = DEADLINE) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running after {timeout} s; output:\n{self.output}"
            ) from None
        self._reader.join(timeout)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
