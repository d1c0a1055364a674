"""The anker command: version, help, and `anker info`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from click.testing import CliRunner

import anker
from anker.cli import cli


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"anker {anker.__version__}\n"


def test_help_lists_the_command_groups() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert "info Show anker's version, subsystems, drivers and extras." in lines
    assert any(line.startswith("config Validate configuration files") for line in lines)


def test_an_unknown_command_is_an_error() -> None:
    result = CliRunner().invoke(cli, ["nosuchcommand"])
    assert result.exit_code == 2
    assert "No such command 'nosuchcommand'" in result.output


def test_info_as_json_lists_subsystems_and_extras() -> None:
    result = CliRunner().invoke(cli, ["info", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["version"] == anker.__version__
    names = [item["name"] for item in document["subsystems"]]
    assert names == [
        "config",
        "messaging",
        "coordination",
        "secrets",
        "db",
        "health",
        "workflow",
        "limits",
        "service",
    ]
    extras = {item["name"]: item for item in document["extras"]}
    assert {"rabbit", "nats", "redis", "postgres", "etcd", "zookeeper", "barbican", "db"} <= set(
        extras
    )
    assert extras["redis"]["packages"].keys() == {"redis"}
    assert extras["nats"]["packages"].keys() == {"nats-py"}
    assert [name for name, extra in extras.items() if extra["planned"]] == []
    (messaging,) = [item for item in document["subsystems"] if item["name"] == "messaging"]
    assert {"memory", "nats", "rabbit"} <= set(messaging["drivers"])


def test_info_shows_the_nats_extra_like_any_other() -> None:
    lines = CliRunner().invoke(cli, ["info"]).output.splitlines()
    (nats,) = [line for line in lines if line.split()[:1] == ["nats"]]
    assert nats.split()[1] in ("installed", "missing")
    assert "planned" not in nats
    (redis,) = [line for line in lines if line.split()[:1] == ["redis"]]
    assert redis.split()[1] in ("installed", "missing")


def test_info_as_text() -> None:
    result = CliRunner().invoke(cli, ["info"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"anker {anker.__version__} on Python ")
    assert "coordination" in result.output
    assert "Extras (pip install 'anker[NAME]'):" in result.output


def test_the_console_script_runs_and_help_imports_no_command_module() -> None:
    probe = (
        "import sys; from anker.cli import main; sys.argv = ['anker', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED' if 'anker.cli._info' in sys.modules else 'LAZY')"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert "Usage: anker" in output
    assert output.rstrip().endswith("LAZY"), "--help must not import the command modules"


def test_python_dash_m_anker_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "anker", "--version"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, f"anker {anker.__version__}\n"), done.stderr


def test_a_reader_that_went_away_stops_the_command_quietly() -> None:
    # `anker ... | head`: the reader closed its end before the command wrote
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "anker", "info"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (1, "")  # as click does for --help
