"""`anker coord` turns bad options into one line on stderr, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anker.cli import cli


def one_line_error(result: Result) -> str:
    """The single line a failed command wrote to stderr (a traceback has more)."""
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an escaped error
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.mark.parametrize("scheme", ["file", "redis"])
def test_an_unknown_url_option_is_one_line(scheme: str, tmp_path: Path) -> None:
    where = f"//{tmp_path}" if scheme == "file" else "//127.0.0.1:6379"
    result = CliRunner().invoke(cli, ["coord", "--url", f"{scheme}:{where}?bogus=1", "locks"])
    line = one_line_error(result)
    assert "bogus" in line


@pytest.mark.parametrize("command", ["locks", "groups", "leaders"])
def test_a_negative_timeout_is_one_line(command: str, tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    result = CliRunner().invoke(cli, ["coord", "--url", url, "--timeout", "-1", command])
    assert "timeout" in one_line_error(result)


@pytest.mark.parametrize("command", ["locks", "groups", "leaders"])
@pytest.mark.parametrize("where", ["typo/coord.db", "missing.db"])
def test_listing_a_mistyped_path_creates_nothing(command: str, where: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["coord", "--url", f"sqlite://{tmp_path}/{where}", command])
    assert "no folder" in one_line_error(result) or "no database at" in one_line_error(result)
    result = CliRunner().invoke(cli, ["coord", "--url", f"file://{tmp_path}/{where}", command])
    one_line_error(result)
    assert list(tmp_path.iterdir()) == []
