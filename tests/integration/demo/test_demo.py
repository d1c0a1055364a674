"""``anker demo`` end to end: the whole scenario on embedded defaults and on real servers, as
a user runs it (a subprocess of the installed command), and ``--serve`` driven with HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest

ANKER = [sys.executable, "-c", "from anker.cli import main; main()"]
STEPS = ("start", "create", "crash", "quota", "delete", "reload", "rolling-restart", "health")


def run_demo(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [*ANKER, "demo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
    )


def assert_scenario_passed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.split("\nSummary\n", 1)[1]
    for step in (*STEPS, "stop"):
        assert re.search(rf"^  ✓ {re.escape(step)}\b", summary, re.MULTILINE), summary
    assert "✗" not in result.stdout
    assert "9 of 9 steps as expected" in summary
    assert "Traceback" not in result.stdout + result.stderr


def test_demo_on_embedded_defaults(tmp_path: Path) -> None:
    workdir = tmp_path / "cloud"
    result = run_demo("--dir", str(workdir))
    assert_scenario_passed(result)
    # the numbers the summary gives come from the cloud: check them against its files
    assert "0 failed" in result.stdout
    assert "attempts: schedule 1, allocate 1, boot 2" in result.stdout
    config = (workdir / "cloud.conf").read_text()
    assert "admin_token = ${secret:demo-admin-token}" in config
    assert "log_level = DEBUG" in config  # the reload step's edit
    log = (workdir / "cloud.log").read_text()
    assert "configuration reloaded; changed: [service] log_level" in log
    assert "Traceback" not in log


@pytest.mark.integration
def test_demo_on_real_servers(
    rabbit_url: str, etcd_url: str, redis_url: str, postgres_url: str
) -> None:
    urls = ["--rabbit", rabbit_url, "--etcd", etcd_url, "--redis", redis_url]
    result = run_demo("--backends", "real", *urls, "--postgres", postgres_url)
    assert_scenario_passed(result)
    assert "a small cloud on real backends" in result.stdout
    # a second run on the same servers starts clean (what the first left is cleared)
    assert_scenario_passed(run_demo("--backends", "real", *urls, "--postgres", postgres_url))


def test_demo_refuses_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("mine")
    result = run_demo("--dir", str(tmp_path))
    assert result.returncode == 2
    assert "not empty" in result.stderr
    assert (tmp_path / "something").read_text() == "mine"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["something"]


def test_demo_with_a_dead_server_says_which(tmp_path: Path) -> None:
    result = run_demo(
        "--backends", "real", "--rabbit", "rabbit://guest:secret@127.0.0.1:9/", timeout=120
    )
    assert result.returncode == 1
    assert "TransportUnavailable" in result.stdout
    assert "rabbit://guest:****@127.0.0.1:9/" in result.stdout
    assert "secret" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    # the log's lines are shown; no path is named that the temporary directory took away
    assert "the cloud's last log lines" in result.stdout
    for path in re.findall(r"(/\S+/cloud\.log)", result.stdout):
        assert Path(path).exists(), path


def test_demo_serve_with_a_dead_server_says_which_and_exits_1() -> None:
    result = run_demo(
        "--serve", "--backends", "real", "--rabbit", "rabbit://guest:secret@127.0.0.1:9/"
    )
    assert result.returncode == 1, result.stderr
    assert "TransportUnavailable" in result.stderr
    assert "rabbit://guest:****@127.0.0.1:9/" in result.stderr
    assert "unexpected" not in result.stderr
    assert "secret" not in result.stdout + result.stderr


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def serve_demo(tmp_path: Path) -> subprocess.Popen[str]:
    """``anker demo --serve`` as a user starts it, its cloud's files in ``tmp_path``."""
    return subprocess.Popen(
        [*ANKER, "demo", "--serve", "--dir", str(tmp_path / "cloud")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_ctrl_c_while_the_served_cloud_starts_stops_the_cloud_too(tmp_path: Path) -> None:
    process = serve_demo(tmp_path)
    clouds: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not clouds and process.poll() is None and time.monotonic() < deadline:
            clouds = children_of(process.pid)  # the cloud is spawned: it is starting now
            time.sleep(0.01)
        assert clouds, "the cloud was never started"
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        assert "runs at" not in out  # the signal came while it started
        assert process.returncode != 0
        deadline = time.monotonic() + 60
        while not all(gone(pid) for pid in clouds) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(gone(pid) for pid in clouds), "the cloud was left running"
    finally:
        for pid in clouds:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_demo_serve_exits_1_when_the_cloud_dies(tmp_path: Path) -> None:
    process = serve_demo(tmp_path)
    try:
        assert process.stdout is not None
        match = re.search(r"\(pid (\d+);", process.stdout.readline())
        assert match
        os.kill(int(match.group(1)), signal.SIGKILL)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1, out + err
    assert "the cloud exited with status -9; its last log lines:" in err
    assert "ready (" in err


def test_demo_serve_answers_curl_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    process = serve_demo(tmp_path)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"runs at (http://\S+) \(pid", first)
        assert match, first + (process.stderr.read() if process.stderr else "")
        api = match.group(1)
        lines = [process.stdout.readline() for _ in range(14)]
        assert any(f"curl -s -X POST {api}/v1/servers" in line for line in lines), lines
        request = urllib.request.Request(
            f"{api}/v1/servers",
            data=json.dumps({"name": "try-1", "cores": 1}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            server_id = json.load(answer)["id"]
        state = ""
        deadline = time.monotonic() + 60
        while state != "ACTIVE" and time.monotonic() < deadline:
            with urllib.request.urlopen(f"{api}/v1/servers/{server_id}", timeout=30) as answer:
                state = json.load(answer)["state"]
            time.sleep(0.05)
        assert state == "ACTIVE"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{api}/v1/servers", data=b"{", timeout=30)
        assert refused.value.code == 400
        assert json.load(refused.value)["error"] == "the body is not JSON"
        # the printed `curl -s API/metrics` follows no redirect: /metrics itself answers
        assert any(line.strip() == f"curl -s {api}/metrics" for line in lines), lines
        metrics = httpx.get(f"{api}/metrics", timeout=30, follow_redirects=False)
        assert metrics.status_code == 200
        assert 'anker_service_state{state="running"} 1.0' in metrics.text
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "stopped (exit status 0)" in out
