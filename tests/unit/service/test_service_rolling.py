"""Rolling restarts of pre-forked workers (SIGUSR2 to the supervisor): one worker at a time,
the new one ready before the old one drains, their port bound once by the supervisor
(``--listen``) and shared, no request refused."""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
from process import ServiceProcess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Hammer:
    """Asks ``/livez`` without pause from a thread; counts answers and failures."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/livez"
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                # a new connection each time: each one is spread over the listening workers
                answer = httpx.get(self.url, timeout=10)
                if answer.status_code == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"HTTP {answer.status_code}")
            except httpx.HTTPError as error:
                self.failures.append(repr(error))

    def wait_for_more_answers(self, timeout: float = 60) -> None:
        seen, ends = self.ok, time.monotonic() + timeout
        while self.ok == seen:
            assert time.monotonic() < ends, f"no answer from {self.url}: {self.failures[-3:]}"
            time.sleep(0.01)

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)


def two_workers(spawn: type[ServiceProcess], **env: str) -> tuple[ServiceProcess, int]:
    """The sample service in two workers sharing one port (``--listen``), once ready."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    service = spawn(
        "sample_service:make", "--workers", "2", "--listen", address, SAMPLE_PORT=str(port), **env
    )
    service.wait_for("supervisor: all 2 workers are ready")
    return service, port


def test_sigusr2_replaces_every_worker_without_refusing_a_request(
    spawn: type[ServiceProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "sample.conf"
    conf.write_text("[app]\nport = 8000\n")
    service, port = two_workers(spawn, SAMPLE_CONF=str(conf))
    old = {int(m) for m in re.findall(r"worker \d+ started \(pid (\d+)\)", service.output)}
    assert len(old) == 2
    conf.write_text("[app]\nport = 9000\n")  # immutable: a reload would not apply it
    mark = len(service.lines)
    with Hammer(port) as hammer:
        hammer.wait_for_more_answers()  # asking before the rollout starts...
        service.send(signal.SIGUSR2)
        service.wait_for("supervisor: rolling restart done", start=mark)
        hammer.wait_for_more_answers()  # ...and still after it: no pause in between
    assert hammer.failures == [], hammer.failures[:5]
    after = service.output.splitlines()[mark:]
    started = [line for line in after if ": new process " in line and "started" in line]
    drained = [line for line in after if "drained and exited (0)" in line]
    assert len(started) == 2
    assert len(drained) == 2
    assert sum("APP PORT 9000" in line for line in after) == 2  # made anew: read again
    for pid in old:
        assert f"pid {pid} drained and exited (0)" in service.output
    service.send(signal.SIGTERM)
    assert service.exit_code() == 0


def test_a_new_worker_that_cannot_start_stops_the_rollout_and_the_old_ones_carry_on(
    spawn: type[ServiceProcess], tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    service, port = two_workers(spawn, SAMPLE_FAIL_IF=str(broken))
    broken.write_text("the next workers fail to start")
    mark = len(service.lines)
    service.send(signal.SIGUSR2)
    service.wait_for(
        r"worker 0: new process \d+ exited with 1 before it was ready; rolling restart"
        r" stopped, pid \d+ carries on",
        start=mark,
    )
    assert httpx.get(f"http://127.0.0.1:{port}/livez", timeout=10).status_code == 200
    assert "drained and exited" not in service.output
    # that rollout is over: a second SIGUSR2 starts another, which succeeds
    broken.unlink()
    mark = len(service.lines)
    service.send(signal.SIGUSR2)
    service.wait_for("supervisor: rolling restart done", start=mark)
    service.send(signal.SIGTERM)
    assert service.exit_code() == 0
