"""A real service process, driven by real signals: drain, deadline, reload, readiness."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from process import ANKER, ServiceProcess


def health_port(service: ServiceProcess) -> int:
    return int(service.wait_for(r"^HEALTH (\d+)")[1])


def test_idle_sigterm_stops_at_once_whatever_the_interval(spawn: type[ServiceProcess]) -> None:
    service = spawn(SAMPLE_INTERVAL="3600")
    service.wait_for("ready")
    service.send(signal.SIGTERM)
    assert service.exit_code() == 0
    assert "all in-flight work finished" in service.output
    assert "RUN START" not in service.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_lets_in_flight_work_finish(
    spawn: type[ServiceProcess], signum: signal.Signals
) -> None:
    service = spawn(SAMPLE_WORK="1.5", SAMPLE_IMMEDIATELY="1")
    service.wait_for("RUN START 1")
    service.send(signum)
    assert service.exit_code() == 0
    output = service.output
    assert output.index("draining") < output.index("RUN END 1")
    assert "abandoned" not in output


def test_past_the_drain_deadline_the_work_is_abandoned_and_named(
    spawn: type[ServiceProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "sample.conf"
    conf.write_text("[service]\ndrain_deadline = 300ms\n")
    service = spawn(SAMPLE_CONF=str(conf), SAMPLE_WORK="600", SAMPLE_IMMEDIATELY="1")
    service.wait_for("RUN START 1")
    service.send(signal.SIGTERM)
    assert service.exit_code() == 3
    service.wait_for(r"drain deadline; abandoned: periodic task job \(running for")
    assert "RUN END" not in service.output


def test_a_drain_that_blocks_the_event_loop_is_ended_by_the_watchdog(
    spawn: type[ServiceProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "sample.conf"
    conf.write_text("[service]\ndrain_deadline = 100ms\n")
    service = spawn(SAMPLE_CONF=str(conf), SAMPLE_BLOCKING_DRAIN="1")
    service.wait_for("ready")
    service.send(signal.SIGTERM)
    service.wait_for("BLOCKING")
    assert service.exit_code() == 3
    assert "its event loop blocked: exiting now" in service.output


def test_a_second_signal_forces_the_exit(spawn: type[ServiceProcess]) -> None:
    service = spawn(SAMPLE_WORK="600", SAMPLE_IMMEDIATELY="1")
    service.wait_for("RUN START 1")
    service.send(signal.SIGTERM)
    service.wait_for("draining")
    service.send(signal.SIGINT)
    assert service.exit_code(15) == 4
    service.wait_for(r"stopped by a second signal; abandoned: periodic task job")


def test_sighup_reloads_in_place_without_losing_in_flight_work(
    spawn: type[ServiceProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "sample.conf"
    conf.write_text("[app]\ngreeting = hello\nport = 8000\n")
    service = spawn(SAMPLE_CONF=str(conf), SAMPLE_WORK="2", SAMPLE_IMMEDIATELY="1")
    service.wait_for("RUN START 1")
    conf.write_text("[service]\nlog_level = DEBUG\n[app]\ngreeting = bonjour\nport = 9000\n")
    service.send(signal.SIGHUP)
    changed = service.wait_for(r"configuration reloaded; changed: (.*)")[1]
    assert sorted(changed.split(", ")) == ["[app] greeting", "[service] log_level"]
    service.wait_for(r"not applied until a restart: \[app\] port")
    service.wait_for("log level is now DEBUG")
    # the run that was in flight finishes, and reads the new value; no restart happened
    service.wait_for("RUN END 1 bonjour")
    service.wait_for("a debug line from run 1")
    assert "RUN START 2" not in service.output
    assert service.output.count("ready (") == 1
    service.send(signal.SIGTERM)
    assert service.exit_code() == 0


def test_json_logs_when_the_configuration_says_so(
    spawn: type[ServiceProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "sample.conf"
    conf.write_text("[service]\nlog_format = json\n")
    service = spawn(SAMPLE_CONF=str(conf))
    service.wait_for('"message": "sample: ready')
    service.send(signal.SIGTERM)
    assert service.exit_code() == 0
    logged = [json.loads(line) for line in service.lines if line.startswith("{")]
    messages = [entry["message"] for entry in logged]
    assert "sample: stopped; all in-flight work finished" in messages
    assert {entry["logger"] for entry in logged} >= {"anker.service", "uvicorn.error"}
    assert not [line for line in service.lines if " INFO " in line]  # no text lines


def test_a_reload_with_errors_is_refused_whole(spawn: type[ServiceProcess], tmp_path: Path) -> None:
    conf = tmp_path / "sample.conf"
    conf.write_text("[app]\ngreeting = hello\n")
    service = spawn(SAMPLE_CONF=str(conf))
    service.wait_for("ready")
    conf.write_text("[app]\ngreeting = bonjour\nport = not-a-number\n")
    service.send(signal.SIGHUP)
    service.wait_for("reload refused, the configuration is unchanged")
    assert "configuration reloaded" not in service.output
    service.send(signal.SIGTERM)
    assert service.exit_code() == 0


def test_ready_only_once_started_and_not_ready_from_the_start_of_a_drain(
    spawn: type[ServiceProcess],
) -> None:
    service = spawn(SAMPLE_WORK="600", SAMPLE_IMMEDIATELY="1")
    port = health_port(service)
    service.wait_for("ready")
    url = f"http://127.0.0.1:{port}/readyz"
    assert httpx.get(url).status_code == 200
    service.wait_for("RUN START 1")
    service.send(signal.SIGTERM)
    service.wait_for("draining")
    # the endpoint answers while the work drains, and says not ready
    assert httpx.get(url).status_code == 503
    assert httpx.get(f"http://127.0.0.1:{port}/livez").status_code == 200
    service.send(signal.SIGTERM)
    assert service.exit_code(15) == 4


def test_sd_notify_says_ready_then_stopping(spawn: type[ServiceProcess]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        address = os.path.join(folder, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(address)
            sock.settimeout(60)
            service = spawn(NOTIFY_SOCKET=address)
            assert sock.recv(100) == b"READY=1"
            service.wait_for("ready")
            service.send(signal.SIGTERM)
            assert sock.recv(100) == b"STOPPING=1"
            assert service.exit_code() == 0


def test_the_supervisor_says_ready_only_once_every_worker_is(
    spawn: type[ServiceProcess],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        address = os.path.join(folder, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(address)
            sock.settimeout(60)
            service = spawn("sample_service:make", "--workers", "3", NOTIFY_SOCKET=address)
            assert sock.recv(100) == b"READY=1"
            # the workers talk to the supervisor's socket, not this one: it speaks for them
            service.wait_for("supervisor: all 3 workers are ready")
            deadline = time.monotonic() + 60
            while service.output.count("sample: ready (") < 3:
                assert time.monotonic() < deadline, service.output
                time.sleep(0.05)
            service.send(signal.SIGTERM)
            assert sock.recv(100) == b"STOPPING=1"
            assert service.exit_code() == 0


def test_a_component_that_fails_to_start_stops_the_others(spawn: type[ServiceProcess]) -> None:
    service = spawn(SAMPLE_FAIL_START="1")
    assert service.exit_code() == 1
    output = service.output
    assert "component broken failed to start" in output
    assert "ready (" not in output


def test_a_factory_that_fails_exits_1_without_a_traceback(spawn: type[ServiceProcess]) -> None:
    service = spawn("sample_service:make_broken")
    assert service.exit_code() == 1
    assert "the service could not be made: ValueError: [app] port" in service.output
    assert "Traceback" not in service.output


def test_a_target_that_cannot_be_loaded_is_a_usage_error(spawn: type[ServiceProcess]) -> None:
    assert spawn("sample_service:nothing_here").exit_code() == 2
    assert spawn("no_such_module:make").exit_code() == 2


def test_a_target_whose_import_fails_is_a_usage_error_saying_why(tmp_path: Path) -> None:
    # a configuration loaded at import (as the tutorial's tiny.py does) with an error in it
    (tmp_path / "svc.conf").write_text("[service]\ndrain_deadline = soon\n")
    (tmp_path / "configured.py").write_text(
        "from anker.config import Config\n"
        "from anker.service import ServiceOptions\n\n\n"
        "class Conf(Config):\n    service: ServiceOptions\n\n\n"
        "conf = Conf.load(files=['svc.conf'])\n"
    )
    (tmp_path / "unfinished.py").write_text("make = (\n")
    for target, says in (
        ("configured:make", "svc.conf:2: error: [service] drain_deadline"),
        ("unfinished:make", "cannot import unfinished: SyntaxError"),
    ):
        ran = subprocess.run(
            [ANKER, "run", target],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 2, ran.stderr
        assert says in ran.stderr
        assert "unexpected" not in ran.stderr


def test_a_factory_that_returns_no_service_exits_1_saying_so(
    spawn: type[ServiceProcess],
) -> None:
    service = spawn("sample_service:make_nothing")
    assert service.exit_code() == 1
    assert "the factory returned 42, not an anker.service.Service" in service.output
    assert "Traceback" not in service.output


def worker_pids(service: ServiceProcess, start: int = 0) -> dict[int, int]:
    """Worker index -> pid, from the supervisor's log."""
    found: dict[int, int] = {}
    for line in service.lines[start:]:
        match = re.search(r"supervisor: worker (\d+) started \(pid (\d+)\)", line)
        if match:
            found[int(match[1])] = int(match[2])
    return found


def test_a_killed_worker_is_restarted_and_signals_reach_every_worker(
    spawn: type[ServiceProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "sample.conf"
    conf.write_text("[app]\ngreeting = hello\n")
    service = spawn("sample_service:make", "--workers", "2", SAMPLE_CONF=str(conf))
    service.wait_for("supervisor: all 2 workers are ready")
    first = worker_pids(service)
    assert len(first) == 2
    mark = len(service.lines)
    os.kill(first[0], signal.SIGKILL)
    service.wait_for(
        r"worker 0 \(pid \d+\) was killed by SIGKILL after .* s; restarting it$", start=mark
    )
    service.wait_for("supervisor: all 2 workers are ready", start=mark)
    again = worker_pids(service, mark)
    assert list(again) == [0]
    assert again[0] != first[0]
    conf.write_text("[app]\ngreeting = bonjour\n")
    service.send(signal.SIGHUP)
    service.wait_for("supervisor: SIGHUP received: forwarded to the workers")
    deadline = time.monotonic() + 60
    while service.output.count("changed: [app] greeting") < 2:  # each worker reloads
        assert time.monotonic() < deadline, service.output
        time.sleep(0.05)
    service.send(signal.SIGTERM)
    assert service.exit_code() == 0
    assert service.output.count("all in-flight work finished") == 2
    assert "ready (" in service.output


def test_ctrl_c_drains_every_worker_once(spawn: type[ServiceProcess]) -> None:
    service = spawn(
        "sample_service:make", "--workers", "2", SAMPLE_WORK="2", SAMPLE_IMMEDIATELY="1"
    )
    service.wait_for("supervisor: all 2 workers are ready")
    deadline = time.monotonic() + 60
    while service.output.count("RUN START 1") < 2:
        assert time.monotonic() < deadline, service.output
        time.sleep(0.05)
    os.killpg(service.process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    assert service.exit_code() == 0
    assert service.output.count("RUN END 1") == 2
    assert "second SIGINT" not in service.output


def test_a_crash_loop_is_restarted_with_backoff(spawn: type[ServiceProcess]) -> None:
    service = spawn("sample_service:make", "--workers", "2", SAMPLE_FAIL_START="1")
    service.wait_for(r"worker \d \(pid \d+\) exited with 1 after .* restarting it in 0.1 s")
    service.wait_for(r"restarting it in 0.2 s \(crash loop\)")
    assert "all 2 workers are ready" not in service.output
    service.send(signal.SIGTERM)
    assert service.exit_code() == 1


def test_a_leader_only_task_runs_on_one_member_and_another_takes_over_from_a_killed_one(
    spawn: type[ServiceProcess], tmp_path: Path
) -> None:
    fleet = {"SAMPLE_LEADER_URL": f"file://{tmp_path}"}
    first = spawn("sample_service:make_leader", SAMPLE_MEMBER="a", **fleet)
    first.wait_for("LEADER RUN 1")
    second = spawn("sample_service:make_leader", SAMPLE_MEMBER="b", **fleet)
    second.wait_for("ready")
    mark = len(first.lines)
    first.wait_for("LEADER RUN", start=mark)  # the first still leads with the second up
    runs = int(first.wait_for(r"LEADER RUN (\d+)", start=len(first.lines) - 1)[1])
    first.wait_for(f"LEADER RUN {runs + 5}")
    assert "LEADER RUN" not in second.output
    first.process.kill()  # no resignation: the second takes over when the lease runs out
    first.exit_code()
    second.wait_for("LEADER RUN 1")
    second.send(signal.SIGTERM)
    assert second.exit_code() == 0
