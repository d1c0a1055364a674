"""`anker db` and `anker.db.Migrations` on SQLite: every command with good and bad input.

The round trips on every database are in tests/integration/db/test_db_migrations.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anker.cli import cli
from anker.db import MigrationError, Migrations, SchemaNotCurrent
from anker.errors import MissingDependency

DATA = Path(__file__).resolve().parents[1] / "data" / "migrations"
SHOP = str(DATA / "shop")


def run(*arguments: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, ["db", *arguments])


def one_line_error(result: Result) -> str:
    """The single line a failed command wrote to stderr (a traceback has more)."""
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    if result.exit_code == 2:  # click's usage errors: the usage, then the one error line
        assert lines[0].startswith("Usage: "), result.stderr
        lines = lines[-1:]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture
def url(tmp_path: Path) -> str:
    """An existing, empty database (the commands that only read never create one)."""
    (tmp_path / "app.db").touch(mode=0o600)
    return f"sqlite://{tmp_path}/app.db"


@pytest.fixture
def scripts(tmp_path: Path) -> str:
    """A copy of the shop migrations that a test may add revisions to."""
    return str(shutil.copytree(SHOP, tmp_path / "migrations"))


def test_upgrade_downgrade_and_current(url: str) -> None:
    where = ["--url", url, "--migrations", SHOP]
    assert run("current", *where).stdout == "(none)\n"
    assert run("upgrade", "0002", *where).stdout == "migrated from (none) to 0002\n"
    assert run("current", *where).stdout == "0002\n"
    assert run("upgrade", *where).stdout == "migrated from 0002 to 0003\n"
    assert run("upgrade", *where).stdout == "nothing to do: at 0003\n"
    assert run("current", *where).stdout == "0003 (head)\n"
    assert json.loads(run("current", *where, "--format", "json").stdout) == {
        "current": ["0003"],
        "heads": ["0003"],
    }
    result = run("downgrade", "-1", *where, "--format", "json")
    assert json.loads(result.stdout) == {"from": ["0003"], "to": ["0002"]}
    assert run("downgrade", "base", *where).stdout == "migrated from 0002 to (none)\n"
    assert json.loads(run("upgrade", "+1", *where, "--format", "json").stdout)["to"] == ["0001"]


def test_check_exits_1_behind_and_0_at_head(url: str) -> None:
    where = ["--url", url, "--migrations", SHOP]
    line = one_line_error(run("check", *where))
    assert line == (
        "Error: the database is at no revision (empty) in alembic_version; the head is 0003 "
        "(run anker db upgrade)"
    )
    run("upgrade", "0002", *where)
    result = run("check", *where, "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "up_to_date": False,
        "current": ["0002"],
        "heads": ["0003"],
    }
    run("upgrade", *where)
    result = run("check", *where)
    assert (result.exit_code, result.stdout) == (0, "up to date: at 0003\n")
    assert json.loads(run("check", *where, "--format", "json").stdout)["up_to_date"] is True


def test_history_needs_no_database() -> None:
    result = run("history", "--migrations", SHOP)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "0002 -> 0003 (head): customers are found by email",
        "0001 -> 0002: customers have an email",
        "<base> -> 0001: customers",
    ]
    rows = json.loads(run("history", "--migrations", SHOP, "--format", "json").stdout)
    assert [(row["revision"], row["head"]) for row in rows] == [
        ("0003", True),
        ("0002", False),
        ("0001", False),
    ]


def test_revision_writes_a_script_on_the_head(scripts: str, url: str) -> None:
    result = run("revision", "-m", "orders", "--rev-id", "0004", "--migrations", scripts)
    assert result.exit_code == 0, result.output
    path = Path(scripts) / "versions" / "0004_orders.py"
    assert result.stdout == f"wrote 0004: {path}\n"
    assert 'down_revision = "0003"' in path.read_text() or "down_revision = '0003'" in (
        path.read_text()
    )
    result = run("revision", "-m", "more", "--migrations", scripts, "--format", "json")
    written = json.loads(result.stdout)
    assert Path(written["path"]).exists()
    upgraded = run("upgrade", "--url", url, "--migrations", scripts, "--format", "json")
    assert json.loads(upgraded.stdout)["to"] == [written["revision"]]


def test_revision_autogenerates_from_models(
    scripts: str, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shop_models.py").write_text(
        "from sqlalchemy import Column, Integer, MetaData, String, Table\n"
        "metadata = MetaData()\n"
        "Table('shop_customers', metadata, Column('id', Integer, primary_key=True),\n"
        "      Column('name', String(80), nullable=False), Column('email', String(120)))\n"
        "Table('shop_orders', metadata, Column('id', Integer, primary_key=True))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    where = ["--url", url, "--migrations", scripts]
    run("upgrade", "0002", *where)
    result = run("revision", "-m", "orders", "--autogenerate", "--metadata", "shop_models:metadata")
    assert "--migrations" in one_line_error(result)  # usage first
    line = one_line_error(
        run("revision", "-m", "x", "--autogenerate", "--metadata", "shop_models:metadata", *where)
    )
    assert "0002" in line
    assert "head is 0003" in line
    run("upgrade", *where)
    result = run(
        "revision", "-m", "orders", "--autogenerate", "--metadata", "shop_models:metadata", *where
    )
    assert result.exit_code == 0, result.output
    script = Path(result.stdout.split(": ", 1)[1].strip()).read_text()
    assert "op.create_table('shop_orders'" in script or 'op.create_table("shop_orders"' in script
    assert "drop_index" in script  # the models lack the unique index of 0003
    run("upgrade", *where)
    assert run("check", *where).exit_code == 0


def test_a_config_file_names_the_database(url: str, tmp_path: Path) -> None:
    conf = tmp_path / "svc.conf"
    conf.write_text(f"[database]\nconnection = {url}\npool_size = 2\n")
    result = run("upgrade", "--config-file", str(conf), "--migrations", SHOP)
    assert result.stdout == "migrated from (none) to 0003\n"
    result = run("current", "--migrations", SHOP, env={"ANKER_DATABASE_URL": url})
    assert result.stdout == "0003 (head)\n"
    conf.write_text(f"[database]\nconnection = {url}\npool_size = many\n")
    line = one_line_error(run("current", "--config-file", str(conf), "--migrations", SHOP))
    assert "pool_size" in line
    assert str(conf) in line


def test_a_package_resource_names_the_scripts(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(SHOP, tmp_path / "shop_pkg" / "migrations")
    (tmp_path / "shop_pkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = run("upgrade", "--url", url, "--migrations", "shop_pkg:migrations")
    assert result.stdout == "migrated from (none) to 0003\n"
    line = one_line_error(run("current", "--url", url, "--migrations", "no_such_pkg:migrations"))
    assert line == "Error: migrations no_such_pkg:migrations: no package no_such_pkg"
    line = one_line_error(run("current", "--url", url, "--migrations", "shop_pkg:missing"))
    assert line.startswith("Error: migrations shop_pkg:missing: no such directory")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--url", "sqlite:relative.db"], "sqlite"),
        (["--url", "postgres://db/app"], "postgresql://"),
        (["--url", "bogus://db/app"], "anker.db knows"),
        (["--url", "sqlite:///tmp/x.db?pool_size=lots"], "pool_size"),
        (["--url", "postgresql://svc@127.0.0.1:1/app"], "connect failed"),
        (["--url", "sqlite:///no/such/folder/app.db"], "no/such/folder"),
    ],
    ids=["relative", "postgres-scheme", "unknown-scheme", "bad-option", "refused", "no-folder"],
)
def test_a_bad_database_is_one_line(arguments: list[str], expected: str) -> None:
    for command in (["current"], ["upgrade"], ["downgrade", "base"], ["check"]):
        line = one_line_error(run(*command, *arguments, "--migrations", SHOP))
        assert expected in line, line


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setitem(sys.modules, "pymysql", None)
    line = one_line_error(run("current", "--url", "mysql://db/app", "--migrations", SHOP))
    assert "pip install 'anker[db]'" in line
    monkeypatch.setitem(sys.modules, "alembic.script", None)
    line = one_line_error(run("current", "--url", url, "--migrations", SHOP))
    assert "pip install 'anker[db]'" in line


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["upgrade", "--url", "{url}"], "--migrations"),
        (["upgrade", "--migrations", SHOP], "--url URL"),
        (["upgrade", "--url", "{url}", "--migrations", "{tmp}/nowhere"], "no such directory"),
        (["upgrade", "--url", "{url}", "--migrations", "{tmp}"], "no versions/ folder"),
        (["upgrade", "nope", "--url", "{url}", "--migrations", SHOP], "'nope'"),
        (["downgrade", "0009", "--url", "{url}", "--migrations", SHOP], "'0009'"),
        (["downgrade", "--url", "{url}", "--migrations", SHOP], "TARGET"),
        (["current", "--url", "{url}", "--migrations", SHOP, "--version-table", "a b"], "a b"),
        (["current", "--url", "{url}", "--config-file", "x.conf", "--migrations", SHOP], "both"),
        (["current", "--config-file", "{tmp}/none.conf", "--migrations", SHOP], "none.conf"),
        (["revision", "--migrations", SHOP], "--message"),
        (["revision", "-m", "x", "--autogenerate", "--migrations", SHOP], "--metadata"),
        (
            [
                "revision",
                "-m",
                "x",
                "--autogenerate",
                "--metadata",
                "os:path",
                "--migrations",
                SHOP,
            ],
            "not a SQLAlchemy MetaData",
        ),
        (
            [
                "revision",
                "-m",
                "x",
                "--autogenerate",
                "--metadata",
                "nomod:md",
                "--migrations",
                SHOP,
            ],
            "cannot load nomod:md",
        ),
    ],
)
def test_bad_input_is_one_line(
    arguments: list[str], expected: str, url: str, tmp_path: Path
) -> None:
    filled = [part.format(url=url, tmp=tmp_path) for part in arguments]
    line = one_line_error(run(*filled))
    assert expected in line, line


def test_the_api_reports_clearly(url: str, scripts: str) -> None:
    migrations = Migrations(url, scripts, version_table="shop_version")
    try:
        assert repr(migrations) == f"Migrations({scripts!r}, version_table='shop_version')"
        assert migrations.heads() == ("0003",)
        with pytest.raises(SchemaNotCurrent) as raised:
            migrations.check()
        assert raised.value.current == ()
        with pytest.raises(MigrationError, match="give metadata"):
            migrations.revision("x", autogenerate=True)
        with pytest.raises(MigrationError, match="version table"):
            Migrations(url, scripts, version_table="drop table x;")
        with pytest.raises(MigrationError, match="no database given"):
            Migrations(None, scripts).current()
    finally:
        migrations.dispose()


def test_an_engine_can_be_passed_and_is_left_open(url: str) -> None:
    from anker.db import create_engine

    engine = create_engine(url)
    migrations = Migrations(engine, SHOP)
    assert migrations.upgrade() == ("0003",)
    migrations.dispose()
    with engine.connect():  # still usable
        pass
    engine.dispose()


def test_missing_alembic_is_missing_dependency(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "alembic.config", None)
    with pytest.raises(MissingDependency, match=r"anker\[db\]"):
        Migrations(url, SHOP).history()


@pytest.mark.parametrize(
    ("source", "expected"),
    [("def upgrade(:\n", "SyntaxError"), ("import nowhere_42\n", "nowhere_42")],
)
def test_a_script_that_does_not_load_is_one_line(
    source: str, expected: str, scripts: str, url: str
) -> None:
    (Path(scripts) / "versions" / "0004_broken.py").write_text(source)
    for command in ("history", "upgrade"):
        line = one_line_error(run(command, "--url", url, "--migrations", scripts))
        assert expected in line, line


def test_a_failing_migration_is_one_line_and_applies_nothing(url: str) -> None:
    from anker.db import create_engine

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE shop_customers (x INTEGER)")
    engine.dispose()
    line = one_line_error(run("upgrade", "--url", url, "--migrations", SHOP))
    assert line.startswith(f"Error: database {url}: execute failed")
    assert "already exists" in line
    assert run("current", "--url", url, "--migrations", SHOP).stdout == "(none)\n"


@pytest.mark.parametrize("command", ["current", "check"])
def test_a_reading_command_never_creates_a_sqlite_database(command: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from anker.cli import cli

    missing = tmp_path / "typo.db"
    arguments = ["db", command, "--url", f"sqlite://{missing}", "--migrations", SHOP]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code != 0
    assert "no database at" in result.stderr
    assert not missing.exists()
    assert os.listdir(tmp_path) == []


def test_a_database_newer_than_the_scripts_is_not_told_to_upgrade(url: str, scripts: str) -> None:
    """An older release's scripts lack the database's revision: an upgrade cannot help."""
    assert run("upgrade", "--url", url, "--migrations", scripts).exit_code == 0
    (Path(scripts) / "versions" / "0003_email_index.py").unlink()
    line = one_line_error(run("check", "--url", url, "--migrations", scripts))
    assert line == (
        "Error: the database is at 0003 in alembic_version, which these migrations do not "
        "have (0003: a newer release's?); their head is 0002"
    )
    migrations = Migrations(url, scripts)
    try:
        with pytest.raises(SchemaNotCurrent) as raised:
            migrations.check()
        assert (raised.value.current, raised.value.unknown) == (("0003",), ("0003",))
        assert "upgrade" not in str(raised.value)
    finally:
        migrations.dispose()


def test_a_config_file_without_the_url_names_this_commands_way_to_give_it(tmp_path: Path) -> None:
    """The service's --database.connection is no option of anker db: the error does not
    send the user to it."""
    conf = tmp_path / "svc.conf"
    conf.write_text("[databse]\nconnection = sqlite:///tmp/x.db\n")  # a misspelt section
    line = one_line_error(run("current", "--migrations", SHOP, "--config-file", str(conf)))
    assert "--database.connection" not in line
    assert line == (
        f"Error: the configuration is invalid: [database] connection is required but not set "
        f"in {conf}; set it there (the URL of the database), or give --url instead of "
        "--config-file"
    )
    assert run("current", "--migrations", SHOP, "--database.connection", "x").exit_code == 2


@pytest.mark.parametrize("command", ["current", "check"])
@pytest.mark.parametrize("query", ["", "?sqlite_wal=true&sqlite_create=true"])
def test_a_reading_command_leaves_a_sqlite_database_as_it_was(
    command: str, query: str, tmp_path: Path
) -> None:
    """Not even its journal mode changes (WAL, once set, persists in the file)."""
    import sqlite3

    path = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.commit()
    before = path.read_bytes()
    result = run(command, "--url", f"sqlite://{path}{query}", "--migrations", SHOP)
    assert result.exit_code == (0 if command == "current" else 1), result.output
    assert "(none)" in result.output or "at no revision (empty)" in result.output
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["other.db"]
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
