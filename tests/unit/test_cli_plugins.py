"""The anker command: command groups added by other packages, shell completion, and errors
without tracebacks unless --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = '''
import click


@click.group()
def fleet() -> None:
    """Our own fleet tools."""


@fleet.command()
def ping() -> None:
    click.echo("pong")


@fleet.command()
def crash() -> None:
    raise RuntimeError("lost rabbit://svc:hunter2@mq.internal:5672/ in a plugin")


@click.command()
def config() -> None:
    click.echo("a plugin must not replace anker's own commands")
'''


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder holding a package, laid out as pip installs one, with ``anker.cli`` entries."""
    (tmp_path / "fleet_tools.py").write_text(PLUGIN)
    info = tmp_path / "fleet_tools-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fleet-tools\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[anker.cli]\nfleet = fleet_tools:fleet\nconfig = fleet_tools:config\n"
    )
    return tmp_path


def anker(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(site), *sys.path])
    return subprocess.run(
        [sys.executable, "-c", "from anker.cli import main; main()", *args],
        capture_output=True,
        check=False,
        text=True,
        env={**os.environ, "PYTHONPATH": path, **env},
        timeout=60,
    )


def test_a_package_adds_a_command_group(site: Path) -> None:
    listed = anker(site, "--help")
    assert listed.returncode == 0, listed.stderr
    assert "fleet" in listed.stdout
    assert "Commands added by fleet-tools." in " ".join(listed.stdout.split())
    ran = anker(site, "fleet", "ping")
    assert (ran.returncode, ran.stdout) == (0, "pong\n")


def test_a_plugin_never_replaces_an_own_command(site: Path) -> None:
    ran = anker(site, "config", "--help")
    assert ran.returncode == 0
    assert "Validate" in ran.stdout
    assert "must not replace" not in ran.stdout


def test_an_unexpected_error_is_one_masked_line_unless_debug(site: Path) -> None:
    ran = anker(site, "fleet", "crash")
    assert ran.returncode == 70
    assert "Traceback" not in ran.stderr
    assert ran.stderr.startswith("Error: unexpected RuntimeError: lost rabbit://svc:")
    assert "hunter2" not in ran.stderr
    assert "--debug" in ran.stderr
    debugged = anker(site, "--debug", "fleet", "crash")
    assert debugged.returncode == 1
    assert "Traceback" in debugged.stderr
    assert "RuntimeError" in debugged.stderr


def test_anker_s_own_errors_stay_one_line_with_status_1(site: Path, tmp_path: Path) -> None:
    ran = anker(site, "quota", "--url", f"sqlite://{tmp_path}/none/limits.db", "show")
    assert ran.returncode == 1
    assert ran.stderr.startswith("Error: limits store")
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_complete_commands(site: Path, shell: str) -> None:
    script = anker(site, "completion", shell)
    assert script.returncode == 0
    assert "_ANKER_COMPLETE" in script.stdout
    answer = anker(
        site, COMP_WORDS="anker quota u", COMP_CWORD="2", _ANKER_COMPLETE="bash_complete"
    )
    assert answer.stdout.split() == ["plain,upgrade", "plain,usage"]


def test_completion_of_an_unknown_shell_is_refused(site: Path) -> None:
    ran = anker(site, "completion", "tcsh")
    assert ran.returncode == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in ran.stderr
