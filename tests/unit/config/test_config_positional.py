"""Positional options: command-line arguments without their --name, in declaration order."""

from __future__ import annotations

from pathlib import Path

import pytest

from anker.config import Config, ConfigError, option


class Tool(Config):
    verbose: bool = option(False, help="Say more.")
    action: str = option(positional=True, choices=["sync", "show"], help="What to do.")
    paths: list[Path] = option([], positional=True, help="Files to work on.")


def test_bare_arguments_fill_the_positional_options_in_order() -> None:
    conf = Tool.load(argv=["sync", "--verbose", "a.conf", "b,c.conf"])
    assert conf.action == "sync"
    assert conf.paths == [Path("a.conf"), Path("b,c.conf")]  # a comma is not a separator here
    assert conf.verbose is True
    assert str(conf.where("DEFAULT", "action")) == "command-line option ACTION"
    assert Tool.load(argv=["show"]).paths == []


def test_after_a_double_dash_everything_is_positional() -> None:
    conf = Tool.load(argv=["show", "--", "--verbose", "-x"])
    assert conf.paths == [Path("--verbose"), Path("-x")]
    assert conf.verbose is False


def test_positional_options_are_options_like_any_other(tmp_path: Path) -> None:
    path = tmp_path / "tool.conf"
    path.write_text("[DEFAULT]\naction = show\n")
    assert Tool.load(files=[path]).action == "show"
    assert Tool.load(files=[path], argv=["sync"]).action == "sync"  # the command line wins
    assert Tool.load(argv=["--action", "sync"]).action == "sync"


def test_missing_bad_and_extra_arguments_are_reported_together() -> None:
    with pytest.raises(ConfigError, match="action is required"):
        Tool.load(argv=[])
    with pytest.raises(ConfigError) as raised:
        Tool.load(argv=["bogus", "--verbose=maybe"])
    text = str(raised.value)
    assert "expected one of 'sync', 'show', got 'bogus'" in text
    assert "verbose" in text
    assert len(raised.value.errors) == 2


def test_an_argument_with_no_positional_option_left_is_unexpected() -> None:
    class One(Config):
        name: str = option(positional=True)

    with pytest.raises(ConfigError, match="unexpected argument 'two'"):
        One.load(argv=["one", "two"])
    assert One.load(argv=["one"]).name == "one"


def test_a_list_positional_option_must_be_the_last() -> None:
    class Wrong(Config):
        files: list[str] = option([], positional=True)
        mode: str = option("r", positional=True)

    with pytest.raises(TypeError, match="files takes every argument left"):
        Wrong.load(argv=["a"])


def test_help_shows_the_positional_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        Tool.load(argv=["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.endswith("[--OPTION VALUE ...] ACTION [PATHS ...]")
    assert "positional arguments:" in out
    assert "What to do. (one of 'sync', 'show'; required)" in out
