"""Tasks run by remote workers (anker.workflow.remote) over RabbitMQ: a worker SIGKILLed in the
middle of a task is noticed by its missing heartbeats, and the task runs again on another
worker with the same idempotency key; the run succeeds."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anker.messaging import ServerUnresponsive, connect
from anker.workflow import Engine, Retry, State, Task, Workflow, remote, sequence

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("remote_worker.py")


class Worker:
    def __init__(self, url: str, topic: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), url, topic],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def wait_for(self, prefix: str, timeout: float = 60) -> str:
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited: {self.lines}")
            time.sleep(0.02)
        raise AssertionError(f"no {prefix!r} from the worker: {self.lines}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        self.reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def workers(rabbit_url: str) -> Iterator[tuple[str, list[Worker]]]:
    topic = f"workers-{uuid.uuid4().hex[:8]}"
    started = [Worker(rabbit_url, topic) for _ in range(2)]
    try:
        for worker in started:
            worker.wait_for("READY")
        yield topic, started
    finally:
        for worker in started:
            worker.stop()


async def run_with_a_failing_worker(
    url: str, pool: list[Worker], topic: str, store: str, failure: signal.Signals
) -> tuple[Any, Worker, Worker, float]:
    """Run the ``slow`` task remotely, send ``failure`` to the worker that starts it; the
    run's end, that worker, the other one, and the seconds from the signal to the end."""
    async with await connect(url) as transport:
        execute, _ = remote(transport, topic, heartbeat=2.0, timeout=120)
        flow = Workflow(
            "remote",
            sequence(
                Task(
                    "slow",
                    execute,
                    requires=("seconds",),
                    provides="pid",
                    retry=Retry(attempts=3, first=0.05, on=(ServerUnresponsive,)),
                )
            ),
            inputs=("seconds",),
        )
        async with await Engine.open(store, [flow], upgrade=True) as engine:
            run_id = await engine.start(flow, {"seconds": 2})
            failing = await _first_to_start(pool)
            failing.process.send_signal(failure)
            signalled = time.monotonic()
            info = await engine.wait(run_id, timeout=120)
    survivor = next(w for w in pool if w is not failing)
    return info, failing, survivor, time.monotonic() - signalled


async def test_a_killed_worker_leaves_its_task_to_another(
    rabbit_url: str, workers: tuple[str, list[Worker]], tmp_path: Path
) -> None:
    topic, pool = workers
    store = f"sqlite:///{tmp_path}/wf.db"
    info, killed, survivor, _ = await run_with_a_failing_worker(
        rabbit_url, pool, topic, store, signal.SIGKILL
    )
    assert info.state is State.SUCCEEDED, info.error
    assert info.tasks["slow"].output == survivor.process.pid
    # the broker hands the unacknowledged request to the survivor at once (attempt 1), or the
    # missing heartbeats fail the attempt first and the retry goes there (attempt 2)
    assert info.tasks["slow"].attempts in (1, 2)
    key = killed.wait_for("STARTED").split()[1]
    assert survivor.wait_for("STARTED").split()[1] == key  # the same idempotency key


async def test_a_frozen_worker_is_noticed_by_its_missing_heartbeats(
    rabbit_url: str, workers: tuple[str, list[Worker]], tmp_path: Path
) -> None:
    # SIGSTOP: the process and its connection live on, so the broker redelivers nothing;
    # only the heartbeats the frozen worker no longer sends tell that it is gone
    topic, pool = workers
    store = f"sqlite:///{tmp_path}/wf.db"
    info, frozen, survivor, took = await run_with_a_failing_worker(
        rabbit_url, pool, topic, store, signal.SIGSTOP
    )
    frozen.process.send_signal(signal.SIGCONT)
    assert info.state is State.SUCCEEDED, info.error
    assert info.tasks["slow"].output == survivor.process.pid
    assert info.tasks["slow"].attempts == 2
    assert took < 20  # heartbeats (2 s) and the 2 s task, not the call's 120 s timeout


async def _first_to_start(pool: list[Worker], timeout: float = 60) -> Worker:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        for worker in pool:
            if any(line.startswith("STARTED") for line in worker.lines):
                return worker
        await asyncio.sleep(0.02)
    raise AssertionError(f"no worker started the task: {[w.lines for w in pool]}")
