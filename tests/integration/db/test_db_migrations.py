"""Migrations on every database: a round trip, `check` one revision behind, two histories in
one database. Each test migrates a database of its own (a new one on the servers), so tests
share the servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from anker.cli import cli
from anker.db import Migrations, SchemaNotCurrent, create_engine
from servers import require_server

DATA = Path(__file__).resolve().parents[2] / "data" / "migrations"
SHOP, AUDIT = str(DATA / "shop"), str(DATA / "audit")
DATABASES = (
    "sqlite",
    *(pytest.param(name, marks=pytest.mark.integration) for name in ("postgresql", "mariadb")),
)


@pytest.fixture(params=DATABASES)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of this test's own (created and dropped on servers)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/migrations.db"
        return
    server = require_server(request.param)
    name = f"m{uuid.uuid4().hex[:12]}"
    base, _, query = server.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    admin = create_engine(server, pool_size=1)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        yield url
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
            connection.execute(text(f"DROP DATABASE {name}{force}"))
    finally:
        admin.dispose()


def columns(url: str, table: str) -> list[str]:
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        if not inspector.has_table(table):
            return []
        return [column["name"] for column in inspector.get_columns(table)]
    finally:
        engine.dispose()


def test_a_round_trip_upgrade_downgrade_upgrade(fresh_url: str) -> None:
    migrations = Migrations(fresh_url, SHOP)
    try:
        assert migrations.current() == ()
        assert migrations.upgrade() == ("0003",)
        assert columns(fresh_url, "shop_customers") == ["id", "name", "email"]
        assert migrations.downgrade("0001") == ("0001",)
        assert columns(fresh_url, "shop_customers") == ["id", "name"]
        assert migrations.downgrade("base") == ()
        assert columns(fresh_url, "shop_customers") == []
        assert migrations.upgrade() == ("0003",)
        assert migrations.check() == ("0003",)
        assert columns(fresh_url, "shop_customers") == ["id", "name", "email"]
    finally:
        migrations.dispose()


def test_check_fails_one_revision_behind(fresh_url: str) -> None:
    migrations = Migrations(fresh_url, SHOP)
    try:
        migrations.upgrade("0002")
        with pytest.raises(SchemaNotCurrent) as raised:
            migrations.check()
        assert (raised.value.current, raised.value.heads) == (("0002",), ("0003",))
        assert "at 0002" in str(raised.value)
        assert "head is 0003" in str(raised.value)
    finally:
        migrations.dispose()
    result = CliRunner().invoke(cli, ["db", "check", "--url", fresh_url, "--migrations", SHOP])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: the database is at 0002 in alembic_version; the head is 0003 (run anker db upgrade)"
    ]
    result = CliRunner().invoke(cli, ["db", "upgrade", "--url", fresh_url, "--migrations", SHOP])
    assert result.exit_code == 0, result.output
    assert result.stdout == "migrated from 0002 to 0003\n"
    result = CliRunner().invoke(cli, ["db", "check", "--url", fresh_url, "--migrations", SHOP])
    assert (result.exit_code, result.stdout) == (0, "up to date: at 0003\n")


def test_two_histories_keep_separate_version_tables(fresh_url: str) -> None:
    shop = Migrations(fresh_url, SHOP, version_table="shop_version")
    audit = Migrations(fresh_url, AUDIT, version_table="audit_version")
    default = Migrations(fresh_url, SHOP)
    try:
        assert shop.upgrade() == ("0003",)
        assert audit.upgrade() == ("a001",)
        assert shop.downgrade("base") == ()
        assert audit.current() == ("a001",)
        assert columns(fresh_url, "audit_events") == ["id", "what"]
        assert columns(fresh_url, "shop_customers") == []
        audit.check()
        with pytest.raises(SchemaNotCurrent, match="in shop_version"):
            shop.check()
        # the default version table is a third history, still empty
        assert default.current() == ()
    finally:
        shop.dispose()
        audit.dispose()
        default.dispose()


@pytest.mark.integration
@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_wrong_credentials_are_one_masked_line(server: str) -> None:
    url = require_server(server)
    scheme, _, rest = url.partition("://")
    wrong = f"{scheme}://nobody:hunter2secret@{rest.split('@', 1)[-1]}"
    result = CliRunner().invoke(cli, ["db", "current", "--url", wrong, "--migrations", SHOP])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: database ")
    assert "nobody:****@" in lines[0]
    assert "hunter2secret" not in result.output
