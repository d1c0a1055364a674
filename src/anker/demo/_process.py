"""The demo cloud's process, as ``anker demo`` starts, kills, signals and stops it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anker.demo._setup import Setup

__all__ = ["CloudDied", "CloudProcess"]

#: how long the cloud may take to start (imports, stores, the API)
START_TIMEOUT = 60.0


class CloudDied(RuntimeError):
    """The cloud's process ended while it was expected to run."""


class CloudProcess:
    """One run of ``anker run anker.demo:cloud`` with its logs appended to ``cloud.log``."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.log_path = setup.directory / "cloud.log"
        self.announce = setup.directory / "cloud.json"
        self.process: asyncio.subprocess.Process | None = None
        self.api = ""
        self.started_in = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> str:
        """Start the cloud and wait until its API answers; its URL."""
        self.announce.unlink(missing_ok=True)
        began = time.monotonic()
        environment = {**os.environ, **self.setup.environment()}
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from anker.cli import main; main()",
                "run",
                "anker.demo:cloud",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=environment,
                start_new_session=True,  # a Ctrl-C at the terminal is anker demo's to handle
            )
        deadline = began + START_TIMEOUT
        while not self.announce.exists():
            if self.process.returncode is not None:
                raise CloudDied(
                    f"the cloud exited with status {self.process.returncode} while starting:"
                    f" {self.last_error()}"
                )
            if time.monotonic() > deadline:
                await self.kill()
                raise CloudDied(
                    f"the cloud did not start in {START_TIMEOUT:.0f} s; log:"
                    f" {self.log_path}\n{self.log_tail()}"
                )
            await asyncio.sleep(0.05)
        self.api = str(json.loads(self.announce.read_text())["api"])
        self.started_in = time.monotonic() - began
        return self.api

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def last_error(self) -> str:
        """The cloud's last logged error (what anker said, not a client library's noise)."""
        errors = [line for line in self.log_lines() if " ERROR anker" in line]
        if not errors:
            return f"nothing logged as an error; see {self.log_path}"
        return errors[-1].split(" ERROR ", 1)[1]

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signum)

    async def kill(self) -> None:
        """SIGKILL: no drain, no clean-up; what a crash or the OOM killer does."""
        if self.process is None:
            return
        self.signal(signal.SIGKILL)
        await self.process.wait()
        self.announce.unlink(missing_ok=True)

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit status (SIGKILL after ``timeout`` seconds)."""
        if self.process is None:
            return 0
        self.signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            return -signal.SIGKILL

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None
