"""``anker health check`` and ``anker health fleet`` against real endpoints (uvicorn on anker's
background loop), failures grouped by the dependency they share."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from anker._runtime import run_blocking
from anker.cli import cli
from anker.health import Check, Exposure, Health, HealthServer, Result


@dataclass
class Service:
    health: Health
    server: HealthServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/healthz"


def checks(rabbit_down: bool) -> list[Check]:
    async def rabbit() -> Result:
        if rabbit_down:
            return Result.failed("messaging transport unavailable")
        return Result.passed(0.4, "ms")

    async def db() -> Result:
        return Result.passed(0.3, "ms")

    return [
        Check("rabbit:responseTime", rabbit, "component"),
        Check("db:responseTime", db, "datastore"),
    ]


@pytest.fixture
def fleet() -> Iterator[list[Service]]:
    """Three services, two of which lost RabbitMQ; details for /healthz with a token."""
    services = []

    async def start(rabbit_down: bool) -> Service:
        health = Health(discover=False)
        for check in checks(rabbit_down):
            health.add(check)
        await health.start()
        server = HealthServer(health, Exposure.of(["all"], token="t0ken"), port=0)
        await server.start()
        return Service(health, server)

    try:
        services.extend(run_blocking(start(down)) for down in (True, False, True))
        yield services
    finally:
        for service in services:
            run_blocking(service.server.aclose())
            run_blocking(service.health.aclose())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_fleet_groups_failures_by_shared_dependency(fleet: list[Service], tmp_path: Path) -> None:
    gone = f"http://127.0.0.1:{free_port()}/healthz"
    listing = tmp_path / "endpoints"
    listing.write_text(f"# the fleet\n{fleet[2].url}\n{gone}  # retired\n")
    result = CliRunner().invoke(
        cli,
        ["health", "fleet", fleet[0].url, fleet[1].url, "--file", str(listing), "--token", "t0ken"],
    )
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        f"FAIL rabbit:responseTime: 2 of 4 services: {fleet[0].url}, {fleet[2].url}"
    )
    assert lines[1].startswith(f"DOWN {gone}: ConnectError")
    assert lines[-1] == "1 of 4 services ready"
    assert "db:responseTime" not in result.output


def test_fleet_as_json_and_without_the_token(fleet: list[Service]) -> None:
    urls = [service.url for service in fleet]
    result = CliRunner().invoke(
        cli, ["health", "fleet", *urls, "--token", "t0ken", "--format", "json"]
    )
    body = json.loads(result.output)
    assert body["healthy"] is False
    assert body["failing"] == [
        {"check": "rabbit:responseTime", "services": [urls[0], urls[2]], "count": 2}
    ]
    assert body["passing"] == [urls[1]]
    # without the token the endpoints show no details: the failures cannot be grouped
    result = CliRunner().invoke(cli, ["health", "fleet", *urls, "--format", "json"])
    assert json.loads(result.output)["failing_without_details"] == [urls[0], urls[2]]


def test_fleet_watch_rounds(fleet: list[Service]) -> None:
    result = CliRunner().invoke(
        cli, ["health", "fleet", fleet[1].url, "--watch", "0.05", "--count", "2"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("1 of 1 services ready") == 2


def test_check_one_endpoint(fleet: list[Service]) -> None:
    result = CliRunner().invoke(cli, ["health", "check", fleet[0].url, "--token", "t0ken"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{fleet[0].url}: fail",
        "  [-] rabbit:responseTime: messaging transport unavailable",
    ]
    result = CliRunner().invoke(cli, ["health", "check", fleet[1].url, "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["status"] == "pass"


def test_a_password_or_token_in_an_endpoint_url_is_printed_masked(fleet: list[Service]) -> None:
    port = fleet[1].server.port
    with_password = f"http://ops:hunter2@127.0.0.1:{port}/healthz"
    with_token = f"http://127.0.0.1:{port}/healthz?token=hunter2"
    dead = f"http://ops:hunter2@127.0.0.1:{free_port()}/healthz"
    for args in (
        ["check", with_password],
        ["check", with_token, "--format", "json"],
        ["check", dead],
        ["fleet", with_password, with_token, dead],
        ["fleet", with_password, dead, "--format", "json"],
    ):
        result = CliRunner().invoke(cli, ["health", *args])
        assert "hunter2" not in result.output, result.output
        assert "ops:****@127.0.0.1" in result.output or "token=****" in result.output


def test_an_answer_that_is_not_a_health_response_says_its_http_status(
    fleet: list[Service],
) -> None:
    url = f"http://127.0.0.1:{fleet[1].server.port}/no-such-page"
    result = CliRunner().invoke(cli, ["health", "check", url])
    assert result.exit_code == 1
    assert result.output == f"{url}: unreachable (not a health response (HTTP 404))\n"


@pytest.mark.parametrize("command", ["check", "fleet"])
@pytest.mark.parametrize("timeout", ["0", "-1", "soon", "nan"])
def test_a_timeout_that_cannot_be_waited_is_a_usage_error(
    fleet: list[Service], command: str, timeout: str
) -> None:
    result = CliRunner().invoke(cli, ["health", command, fleet[1].url, "--timeout", timeout])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--timeout'" in result.output


def test_durations_are_taken_as_the_other_commands_take_them(fleet: list[Service]) -> None:
    result = CliRunner().invoke(
        cli,
        ["health", "fleet", fleet[1].url, "--timeout", "2s", "--watch", "50ms", "--count", "2"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("1 of 1 services ready") == 2
    result = CliRunner().invoke(cli, ["health", "check", fleet[1].url, "--timeout", "1500ms"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--watch", "1s", "--count", "0"], "Invalid value for '--count'"),
        (["--count", "2"], "--count counts the rounds of --watch: give --watch too"),
        (["--watch", "0"], "Invalid value for '--watch'"),
    ],
)
def test_rounds_that_cannot_be_counted_are_a_usage_error(
    fleet: list[Service], args: list[str], said: str
) -> None:
    # --count 0 ran one round; --count without --watch was ignored
    result = CliRunner().invoke(cli, ["health", "fleet", fleet[1].url, *args])
    assert result.exit_code == 2, result.output
    assert said in result.output


def test_fleet_needs_endpoints() -> None:
    result = CliRunner().invoke(cli, ["health", "fleet"])
    assert result.exit_code == 2
    assert "name endpoints" in result.output


async def test_maintenance_command_switches_readiness(tmp_path: Path) -> None:
    flag = tmp_path / "maintenance"
    health = Health(maintenance_file=flag, discover=False)
    on = CliRunner().invoke(cli, ["health", "maintenance", str(flag), "--reason", "db upgrade"])
    assert on.exit_code == 0, on.output
    report = await health.run("ready")
    assert report.outcomes[0].result.output == "maintenance: db upgrade"
    assert (await health.run("live")).status.value == "pass"
    off = CliRunner().invoke(cli, ["health", "maintenance", str(flag), "--off"])
    assert off.exit_code == 0, off.output
    assert off.output == f"maintenance off: {flag} removed\n"
    assert (await health.run("ready")).status.value == "pass"
    # ending maintenance that was not on says so, rather than "removed"
    again = CliRunner().invoke(cli, ["health", "maintenance", str(flag), "--off"])
    assert again.exit_code == 0, again.output
    assert again.output == f"maintenance off: {flag} was not there (maintenance was off)\n"
    missing = CliRunner().invoke(cli, ["health", "maintenance", str(tmp_path / "no" / "file")])
    assert missing.exit_code == 1
    assert "No such file or directory" in missing.output
