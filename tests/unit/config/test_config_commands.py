"""Sub-commands on the command line (oslo.config's SubCommandOpt): the chosen one with its own
options and positional arguments, --help per sub-command, every mistake reported at once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from anker.config import Command, Config, ConfigError, option, subcommand


class Sync(Command):
    """Apply the pending migrations.

    Migrations run in order; this paragraph is not in the help.
    """

    version: int | None = option(None, positional=True, help="Stop at this version.")
    dry_run: bool = option(False, help="Only say what would run.")


class PurgeDeleted(Command):
    """Delete soft-deleted rows."""

    before: str = option(positional=True, help="Rows deleted before this date.")
    tables: list[str] = option([], help="Only these tables.")
    debug: bool = option(False, help="The sub-command's own --debug.")


class Manage(Config):
    verbose: bool = option(False, help="Say more.")
    workers: int = option(2, min=1, help="Worker processes.")
    action: Sync | PurgeDeleted = subcommand(help="What to do.")


def test_the_chosen_sub_command_holds_its_own_values() -> None:
    conf = Manage.load(argv=["--workers", "3", "sync", "42", "--dry-run"])
    assert isinstance(conf.action, Sync)
    assert (conf.action.version, conf.action.dry_run) == (42, True)
    assert conf.action.command_name == Sync.command_name == "sync"
    assert conf.workers == 3
    purge = Manage.load(argv=["purge-deleted", "--tables", "events,claims", "2026-01-01"])
    assert isinstance(purge.action, PurgeDeleted)
    assert (purge.action.before, purge.action.tables) == ("2026-01-01", ["events", "claims"])
    assert Manage.load(argv=["sync"]).action.version is None  # the default


def test_options_of_the_level_above_may_follow_the_sub_command() -> None:
    conf = Manage.load(argv=["sync", "--workers=4", "7", "--verbose"])
    assert (conf.workers, conf.verbose, conf.action.version) == (4, True, 7)  # type: ignore[union-attr]

    # the innermost level's own option wins: purge-deleted declares --debug, Manage does not
    # declare it, and an option of both levels goes to the sub-command after its name
    class Both(Config):
        debug: bool = option(False)
        action: PurgeDeleted = subcommand()

    both = Both.load(argv=["--debug", "purge-deleted", "x"])
    assert (both.debug, both.action.debug) == (True, False)
    both = Both.load(argv=["purge-deleted", "x", "--debug"])
    assert (both.debug, both.action.debug) == (False, True)


def test_config_files_after_the_sub_command_are_read(tmp_path: Path) -> None:
    path = tmp_path / "manage.conf"
    path.write_text("[DEFAULT]\nworkers = 9\n")
    conf = Manage.load(argv=["sync", "--config-file", str(path)])
    assert conf.workers == 9
    assert str(conf.where("DEFAULT", "workers")) == f"file {path}:2"


def test_names_default_to_the_dashed_class_name_and_match_dashes_and_underscores() -> None:
    class ListCells(Command):
        verbose: bool = option(False)

    class DBSync(Command):
        pass

    class Named(Command, name="cell_v2"):
        pass

    assert (ListCells.command_name, DBSync.command_name, Named.command_name) == (
        "list-cells",
        "db-sync",
        "cell_v2",
    )

    class Cells(Config):
        action: ListCells | Named = subcommand()

    assert isinstance(Cells.load(argv=["list_cells"]).action, ListCells)
    assert isinstance(Cells.load(argv=["cell-v2"]).action, Named)


def test_sub_commands_nest() -> None:
    class Archive(Command):
        max_rows: int = option(1000, min=1)

    class Db(Command):
        """Database work."""

        action: Sync | Archive = subcommand(help="What to do to the database.")

    class Cell(Command):
        name: str = option(positional=True)

    class NovaManage(Config):
        debug: bool = option(False)
        category: Db | Cell = subcommand()

    conf = NovaManage.load(argv=["db", "archive", "--max-rows", "5", "--debug"])
    assert isinstance(conf.category, Db)
    assert isinstance(conf.category.action, Archive)
    assert (conf.category.action.max_rows, conf.debug) == (5, True)
    with pytest.raises(ConfigError) as raised:
        NovaManage.load(argv=["db"])
    assert [str(p) for p in raised.value.problems] == [
        "error: missing sub-command of 'db': give one of sync, archive"
    ]
    with pytest.raises(ConfigError, match="unknown sub-command 'archiv' of 'db'; did you mean"):
        NovaManage.load(argv=["db", "archiv"])
    with pytest.raises(ConfigError, match="sub-command 'db archive': max_rows: expected an"):
        NovaManage.load(argv=["db", "archive", "--max-rows=0"])


def test_a_missing_or_unknown_sub_command_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as raised:
        Manage.load(argv=["--verbose"])
    assert [str(p) for p in raised.value.problems] == [
        "error: missing sub-command: give one of sync, purge-deleted"
    ]
    with pytest.raises(ConfigError) as raised:
        Manage.load(argv=["snyc", "42"])
    (problem,) = raised.value.problems
    assert problem.code == "unknown-command"
    assert problem.suggestion == "sync"
    assert str(problem) == (
        "argument 'snyc': error: unknown sub-command 'snyc'; did you mean 'sync'?"
        " (sub-commands: sync, purge-deleted)"
    )
    with pytest.raises(ConfigError, match=r"unknown sub-command 'zzz' \(sub-commands: sync"):
        Manage.load(argv=["zzz"])


def test_every_problem_of_every_level_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        Manage.load(argv=["--workers", "0", "purge-deleted", "--tabels", "x", "--verbos"])
    assert [str(p) for p in raised.value.problems] == [
        "command-line option --workers: error: [DEFAULT] workers: expected an integer of at"
        " least 1, got '0'",
        "command-line option --tabels: error: unknown option '--tabels' of sub-command"
        " 'purge-deleted'; did you mean '--tables'?",
        "command-line option --verbos: error: unknown option '--verbos' of sub-command"
        " 'purge-deleted'; did you mean '--verbose'?",
        "error: sub-command 'purge-deleted': BEFORE is required",
    ]
    with pytest.raises(ConfigError) as raised:
        Manage.load(argv=["sync", "soon", "extra", "--dry-run=maybe"])
    assert [p.message for p in raised.value.problems] == [
        "sub-command 'sync': unexpected argument 'extra'",
        "sub-command 'sync': dry_run: expected a boolean (true/false, yes/no, on/off, 1/0),"
        " got 'maybe'",
        "sub-command 'sync': version: expected an integer, got 'soon'",
    ]
    assert all(p.section is None for p in raised.value.problems)


def test_a_double_dash_makes_the_rest_positional() -> None:
    conf = Manage.load(argv=["--", "purge-deleted", "--help"])
    assert conf.action.before == "--help"  # type: ignore[union-attr]
    conf = Manage.load(argv=["purge-deleted", "--tables", "-h", "--", "-x"])
    assert (conf.action.tables, conf.action.before) == (["-h"], "-x")  # type: ignore[union-attr]


def test_help_lists_the_sub_commands(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/bin/manage"])
    with pytest.raises(SystemExit) as exited:
        Manage.load(argv=["--workers", "2", "--help", "sync"])
    assert exited.value.code == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == (
        "usage: manage [-h] [--config-file PATH] [--config-dir DIR] [--OPTION VALUE ...]"
        " {sync,purge-deleted} ..."
    )
    at = lines.index("sub-commands:")
    assert lines[at + 1 : at + 4] == [
        "{sync,purge-deleted} What to do.",
        "sync Apply the pending migrations.",
        "purge-deleted Delete soft-deleted rows.",
    ]


def test_help_after_a_sub_command_is_its_own(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/bin/manage"])
    with pytest.raises(SystemExit) as exited:
        Manage.load(argv=["purge-deleted", "-h"])  # BEFORE missing: help comes first
    assert exited.value.code == 0
    out = capsys.readouterr().out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert lines[:3] == [
        "usage: manage purge-deleted [-h] [--OPTION VALUE ...] BEFORE",
        "",
        "Delete soft-deleted rows.",
    ]
    assert "BEFORE Rows deleted before this date. (a string; required)" in lines
    assert any(line.startswith("--tables VALUE Only these tables.") for line in lines)
    assert "--config-file" not in out
    assert lines[-1] == "The options of manage (see manage --help) may be given here too."


def test_reload_keeps_the_sub_command_and_the_options_given_after_it(tmp_path: Path) -> None:
    class Live(Config):
        workers: int = option(2, mutable=True)
        debug: bool = option(False, mutable=True)
        action: Sync = subcommand()

    path = tmp_path / "live.conf"
    path.write_text("[DEFAULT]\nworkers = 3\n")
    conf = Live.load(files=[path], argv=["sync", "5", "--debug"])
    action = conf.action
    path.write_text("[DEFAULT]\nworkers = 6\n")
    conf.reload()
    assert (conf.workers, conf.debug, conf.action) == (6, True, action)
    assert conf.action.version == 5


def test_values_may_hold_references(tmp_path: Path) -> None:
    conf = Manage.load(argv=["purge-deleted", "${env:CUTOFF}"], environ={"CUTOFF": "2025"})
    assert conf.action.before == "2025"  # type: ignore[union-attr]


def _two_slots() -> None:
    class Two(Config):
        a: Sync = subcommand()
        b: PurgeDeleted = subcommand()

    Two.load(argv=["sync"])


def _positional_beside() -> None:
    class Mixed(Config):
        path: str = option(positional=True)
        action: Sync = subcommand()

    Mixed.load(argv=["sync"])


def _not_commands() -> None:
    class NotCommands(Config):
        action: Sync | int = subcommand()

    NotCommands.load(argv=["sync"])


def _same_name() -> None:
    class A(Command, name="same"):
        pass

    class B(Command, name="same"):
        pass

    class Clash(Config):
        action: A | B = subcommand()

    Clash.load(argv=["same"])


def _reserved() -> None:
    class Reserved(Command):
        command_name: str = option("x")  # type: ignore[misc]

    class UsesReserved(Config):
        action: Reserved = subcommand()

    UsesReserved.load(argv=["reserved"])


def _dashed_name() -> None:
    class Dashed(Command, name="-x"):
        pass


def _section() -> None:
    from anker.config import Group

    class Part(Group):
        size: int = option(1)

    class WithSection(Command):
        part: Part

    class UsesSection(Config):
        action: WithSection = subcommand()

    UsesSection.load(argv=["with-section"])


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (_two_slots, r"Two.b: one sub-command per command line \(a is one already\)"),
        (_positional_beside, "Mixed: positional options and sub-commands do not mix"),
        (_not_commands, "NotCommands.action: a sub-command's annotation lists Command classes"),
        (_same_name, r"Clash.action: A and B are both called 'same'"),
        (_reserved, "Reserved.command_name: 'command_name' is reserved by Command"),
        (_dashed_name, "Dashed: '-x' cannot name a sub-command"),
        (_section, "WithSection.part: a sub-command has no sections"),
    ],
)
def test_mistakes_in_the_declaration_name_the_class_and_attribute(
    declare: Any, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        declare()


# ---------------------------------------------------------------------- generated command lines
WORD = st.from_regex(r"[a-z0-9][a-z0-9_.:/]{0,8}", fullmatch=True)  # never an option, no $


@st.composite
def invocations(draw: st.DrawFn) -> tuple[list[str], dict[str, object]]:
    """A valid command line in any order anker accepts, and the values it must give."""
    expected: dict[str, object] = {"workers": 2, "verbose": False}
    above: list[list[str]] = []
    if draw(st.booleans()):
        expected["workers"] = draw(st.integers(1, 10**6))
        above.append(_valued("workers", str(expected["workers"]), draw(st.booleans())))
    if draw(st.booleans()):
        expected["verbose"] = draw(st.booleans())
        above.append(["--verbose" if expected["verbose"] else "--no-verbose"])
    own: list[list[str]] = []
    positional: list[str] = []
    if draw(st.booleans()):
        expected["command"] = "sync"
        expected["version"], expected["dry_run"] = None, False
        if draw(st.booleans()):
            expected["version"] = draw(st.integers(-(10**6), 10**6))
            positional.append(str(expected["version"]))
        if draw(st.booleans()):
            expected["dry_run"] = True
            own.append(["--dry-run" if draw(st.booleans()) else "--dry_run"])
    else:
        expected["command"] = "purge-deleted"
        expected["before"] = draw(WORD)
        positional.append(str(expected["before"]))
        expected["tables"], expected["debug"] = [], False
        if draw(st.booleans()):
            expected["tables"] = draw(st.lists(WORD, min_size=1, max_size=3))
            joined = ",".join(expected["tables"])  # type: ignore[arg-type]
            own.append(_valued("tables", joined, draw(st.booleans())))
        if draw(st.booleans()):
            expected["debug"] = True
            own.append(["--debug"])
    # options of the level above go before or after the name; the sub-command's own after it
    before = [group for group in above if draw(st.booleans())]
    after = [group for group in above if group not in before] + own
    after = draw(st.permutations(after))
    at = draw(st.integers(0, len(after)))  # where the positional argument goes among them
    tail = [*after[:at], positional, *after[at:]] if positional else after
    argv = [*(a for group in before for a in group), str(expected["command"])]
    argv += [a for group in tail for a in group]
    return argv, expected


def _valued(name: str, value: str, inline: bool) -> list[str]:
    return [f"--{name}={value}"] if inline else [f"--{name}", value]


def _loaded(conf: Manage) -> dict[str, object]:
    found: dict[str, object] = {"workers": conf.workers, "verbose": conf.verbose}
    found["command"] = conf.action.command_name
    found.update({k: v for k, v in vars(conf.action).items() if not k.startswith("_")})
    return found


@given(invocations())
@settings(max_examples=300)
def test_any_valid_order_of_a_command_line_gives_its_values(
    case: tuple[list[str], dict[str, object]],
) -> None:
    argv, expected = case
    assert _loaded(Manage.load(argv=argv)) == expected


TOKENS = st.one_of(
    st.sampled_from(
        [
            "sync",
            "purge-deleted",
            "purge_deleted",
            "snyc",
            "--",
            "-h",
            "--help",
            "--verbose",
            "--no-verbose",
            "--no-verbose=1",
            "--workers",
            "--workers=0",
            "--dry-run",
            "--dry-run=yes",
            "--tables",
            "--tables=a,b",
            "--debug",
            "--config-file",
            "--config-dir",
            "--database.connection=x",
            "--unknown",
            "-x",
            "-",
            "7",
            "",
            "$",
            "${env:NOPE}",
        ]
    ),
    st.text(max_size=6),
)


@given(st.lists(TOKENS, max_size=8))
@settings(max_examples=500)
def test_any_command_line_loads_or_says_what_is_wrong(argv: list[str]) -> None:
    outcome: object
    try:
        outcome = Manage.load(argv=argv, environ={})
    except (ConfigError, SystemExit) as raised:
        outcome = raised  # anything else raised fails the test
    if isinstance(outcome, ConfigError):
        assert outcome.errors, "a ConfigError names at least one error"
        assert all(p.message for p in outcome.errors)
    elif isinstance(outcome, SystemExit):
        assert outcome.code == 0
        assert {"-h", "--help"} & set(argv)
    else:
        assert isinstance(outcome, Manage)
        assert outcome.action.command_name in ("sync", "purge-deleted")


# ---------------------------------------------------------------------- against oslo.config
def _oslo(argv: list[str]) -> dict[str, object]:
    """What oslo.config's SubCommandOpt reads from ``argv``, declared like Manage."""
    from oslo_config import cfg

    def add_parsers(subparsers: Any) -> None:
        sync = subparsers.add_parser("sync")
        sync.add_argument("version", nargs="?", type=int)
        sync.add_argument("--dry-run", "--dry_run", action="store_true")
        purge = subparsers.add_parser("purge-deleted")
        purge.add_argument("before")
        purge.add_argument("--tables", type=lambda text: text.split(","), default=[])
        purge.add_argument("--debug", action="store_true")

    conf = cfg.ConfigOpts()
    conf.register_cli_opt(cfg.BoolOpt("verbose", default=False))
    conf.register_cli_opt(cfg.IntOpt("workers", default=2, min=1))
    conf.register_cli_opt(cfg.SubCommandOpt("action", handler=add_parsers))
    conf(args=argv, project="manage", default_config_files=[], default_config_dirs=[])
    found: dict[str, object] = {"workers": conf.workers, "verbose": conf.verbose}
    found["command"] = conf.action.name
    names = ["version", "dry_run"] if conf.action.name == "sync" else ["before", "tables", "debug"]
    found.update({name: getattr(conf.action, name) for name in names})
    return found


@given(invocations())
@settings(max_examples=150, deadline=None)
def test_oslo_config_reads_the_same_values_from_what_it_accepts(
    case: tuple[list[str], dict[str, object]],
) -> None:
    argv, expected = case
    # oslo.config (argparse) takes the options of the level above only before the
    # sub-command, and writes a negated flag --noverbose
    name = argv.index(str(expected["command"]))
    assume(not any(a.startswith(("--workers", "--verbose", "--no-")) for a in argv[name:]))
    oslo_argv = [a.replace("--no-verbose", "--noverbose") for a in argv]
    assert _oslo(oslo_argv) == expected == _loaded(Manage.load(argv=argv))
