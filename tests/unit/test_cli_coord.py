"""`anker coord` turns bad options into one line on stderr, never a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anker.cli import cli


@pytest.fixture
def made(tmp_path: Path) -> str:
    """The URL of a file:// backend that exists (the commands never make one)."""
    from anker.coordination import Coordinator

    async def make() -> None:
        async with await Coordinator.connect(f"file://{tmp_path}"):
            pass

    asyncio.run(make())
    return f"file://{tmp_path}"


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
def test_timeout_takes_a_duration_and_refuses_what_is_none(command: str, made: str) -> None:
    # '--timeout 2s' was "not a valid float", while '--timeout -1' failed saying "expected a
    # duration such as 30s": the error suggested what the option then refused
    url = made
    for given in ("30s", "2m", "1.5", "250ms"):
        result = CliRunner().invoke(cli, ["coord", "--url", url, "--timeout", given, command])
        assert result.exit_code == 0, result.output
    for given in ("-1", "nan", "inf", "0.05", "soon"):
        result = CliRunner().invoke(cli, ["coord", "--url", url, "--timeout", given, command])
        assert result.exit_code == 2, result.output  # a usage error, naming the option
        assert "Invalid value for '--timeout': expected a duration such as 30s" in result.stderr


def test_the_url_s_timeout_is_used_and_timeout_replaces_it(made: str) -> None:
    # a service's own URL with ?timeout= failed every command ("given twice (in the URL and
    # as a keyword)"), because --timeout always passed its default of 5
    result = CliRunner().invoke(cli, ["coord", "--url", f"{made}?timeout=10s", "locks"])
    assert result.exit_code == 0, result.output
    # the URL's own is used when --timeout is not given, and --timeout replaces it
    url = f"{made}?timeout=1ms"
    assert "got '1ms'" in one_line_error(CliRunner().invoke(cli, ["coord", "--url", url, "locks"]))
    result = CliRunner().invoke(cli, ["coord", "--url", url, "--timeout", "3", "locks"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["locks", "groups", "leaders"])
@pytest.mark.parametrize("where", ["typo/coord.db", "missing.db"])
def test_listing_a_mistyped_path_creates_nothing(command: str, where: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["coord", "--url", f"sqlite://{tmp_path}/{where}", command])
    assert "no folder" in one_line_error(result) or "no database at" in one_line_error(result)
    result = CliRunner().invoke(cli, ["coord", "--url", f"file://{tmp_path}/{where}", command])
    one_line_error(result)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scheme", ["sqlite", "file"])
@pytest.mark.parametrize("create", ["true", "false", "1"])
def test_a_url_s_create_is_no_conflict_and_creates_nothing(
    scheme: str, create: str, tmp_path: Path
) -> None:
    # a service's URL with ?create=true failed every command ("given twice (in the URL and as
    # a keyword)"); these commands still never create a database, whatever the URL says
    where = f"{tmp_path}/coord.db" if scheme == "sqlite" else str(tmp_path)
    result = CliRunner().invoke(
        cli, ["coord", "--url", f"{scheme}://{where}?create={create}", "locks"]
    )
    assert "no database at" in one_line_error(result)
    assert list(tmp_path.iterdir()) == []
    result = CliRunner().invoke(
        cli, ["coord", "--url", f"{scheme}://{where}?create=maybe", "locks"]
    )
    assert "create" in one_line_error(result)


def test_a_prefix_that_contradicts_the_url_s_is_named_as_the_command_line_gave_it(
    made: str,
) -> None:
    # it was "option 'prefix' ...: given twice (in the URL and as a keyword)": no keyword
    # was given, and no option was named as the user wrote it
    url = f"{made}?prefix=svc"
    for prefix in ("", "svc"):
        result = CliRunner().invoke(cli, ["coord", "--url", url, "--prefix", prefix, "locks"])
        assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["coord", "--url", url, "--prefix", "other", "locks"])
    assert result.exit_code == 2
    assert result.stderr.endswith("\nError: --prefix other contradicts the URL's ?prefix=svc\n")
