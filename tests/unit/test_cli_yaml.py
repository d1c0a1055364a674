"""``--format yaml`` wherever ``--format json`` is offered, with the same data."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from anker.cli import cli
from anker.cli._main import COMMAND_GROUPS


def commands() -> list[tuple[str, click.Command]]:
    """Every command of anker's own groups, by its path (``quota tree``)."""
    found: list[tuple[str, click.Command]] = []
    context = click.Context(cli)

    def walk(path: str, command: click.Command) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                if sub is not None:
                    walk(f"{path} {name}".strip(), sub)

    for name in COMMAND_GROUPS:
        command = cli.get_command(context, name)
        assert command is not None
        walk(name, command)
    return found


def test_every_command_that_speaks_json_speaks_yaml() -> None:
    offering = []
    for path, command in commands():
        for param in command.params:
            if isinstance(param, click.Option) and "--format" in param.opts:
                choices = list(getattr(param.type, "choices", []))
                if "json" in choices:
                    offering.append(path)
                    assert "yaml" in choices, f"anker {path}: --format {choices}"
    assert len(offering) > 30  # the walk found the commands


@pytest.mark.parametrize(
    "args",
    [
        ["info"],
        ["quota", "--url", "{db}", "tree"],
        ["quota", "--url", "{db}", "usage"],
        ["quota", "--url", "{db}", "claims"],
    ],
)
def test_yaml_says_what_json_says(tmp_path: Path, args: list[str]) -> None:
    db = f"sqlite:///{tmp_path}/limits.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["quota", "--url", db, "upgrade"]).exit_code == 0
    for setup in (
        ["set", "--default", "cores=4"],
        ["set", "--root", "acme", "cores=10"],
        ["set", "--parent", "acme", "web", "cores=4"],
    ):
        done = runner.invoke(cli, ["quota", "--url", db, *setup])
        assert done.exit_code == 0, done.output
    given = [arg.format(db=db) for arg in args]
    as_json = runner.invoke(cli, [*given, "--format", "json"])
    as_yaml = runner.invoke(cli, [*given, "--format", "yaml"])
    assert as_json.exit_code == 0, as_json.output
    assert as_yaml.exit_code == 0, as_yaml.output
    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)
    if json.loads(as_json.stdout):
        assert not as_yaml.stdout.lstrip().startswith(("{", "["))  # YAML, not JSON
