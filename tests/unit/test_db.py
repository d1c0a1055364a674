"""anker.db without a server: URLs, options, bad input, SQLite's setup, and retrying."""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from anker.config import Config
from anker.db import (
    DatabaseOptions,
    DBConnectionError,
    DBDataError,
    DBDeadlock,
    create_async_engine,
    create_engine,
    retrying,
)
from anker.db._settings import EngineSettings, engine_settings, parse_database_url, target
from anker.drivers import Backoff
from anker.errors import InvalidOption, InvalidURL, MissingDependency


def plan(url: str, asynchronous: bool = False, **options: object) -> dict[str, object]:
    parsed = parse_database_url(url)
    return target(parsed, engine_settings(parsed, options), asynchronous=asynchronous).connect_args


def test_postgresql_gets_timeouts_on_every_layer_and_the_password_apart() -> None:
    args = plan("postgresql://svc:pw@db1,db2:5433/app?sslmode=require", statement_timeout="5s")
    assert args["host"] == "db1,db2"
    assert args["port"] == "5432,5433"
    assert args["options"] == "-c statement_timeout=5000"
    assert args["connect_timeout"] == "5"  # 10 s over two hosts
    assert {"keepalives_idle", "tcp_user_timeout"} <= set(args)
    assert args["sslmode"] == "require"
    assert args["password"] == "pw"
    assert "options" not in plan("postgresql://db/app", statement_timeout=0)


def test_mysql_gets_socket_timeouts_and_its_driver_by_sync_or_async() -> None:
    args = plan("mariadb://root@db/app", connect_timeout="3s", statement_timeout="30s")
    assert args["connect_timeout"] == 3
    assert args["read_timeout"] == 33
    assert args["write_timeout"] == 33  # equal: PyMySQL never switches the socket's timeout
    unbounded = plan("mariadb://root@db/app", connect_timeout="3s", statement_timeout=0)
    assert "read_timeout" not in unbounded
    assert unbounded["write_timeout"] == 3
    assert args["database"] == "app"
    assert plan("mysql://db/app", asynchronous=True)["db"] == "app"


def test_the_sqlalchemy_url_never_holds_the_password() -> None:
    engine = create_engine("postgresql://svc:s3cr3t@db/app")
    assert "s3cr3t" not in repr(engine)
    assert "s3cr3t" not in engine.url.render_as_string(hide_password=False)
    assert engine.url.drivername == "postgresql+psycopg"
    assert create_async_engine("mysql://db/app").url.drivername == "mysql+aiomysql"
    assert create_engine("mariadb://db/app").url.drivername == "mysql+pymysql"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://db:port/app", "port 'port' of host 1 is not a number"),
        ("postgres://db/app", "did you mean 'postgresql://'?"),
        ("mysql+pymysql://db/app", "did you mean 'mysql://'?"),
        ("oracle://db/app", "anker.db knows mariadb://, mysql://, postgresql://, sqlite://"),
        ("sqlite://host/app.db", "takes a path only"),
        ("sqlite://", "needs a path"),
        # SQLAlchemy's in-memory spelling: here a file called ':memory:' at the root
        ("sqlite:///:memory:", "name a database file"),
        ("sqlite:////:memory:", "name a database file"),
        ("mysql://db1,db2/app", "takes one host"),
    ],
)
def test_a_bad_url_says_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(InvalidURL, match=message.replace("?", r"\?").replace("+", r"\+")):
        create_engine(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresx://svc:s3cr3t@db/app", "postgresx://svc:****@db/app"),
        # a slash or the colon missing: no '://', so no parse, but still no password
        ("postgresql:/svc:s3cr3t@db/app", "postgresql:/****@db/app"),
        ("postgresql//svc:s3cr3t@db/app", "postgresql//****@db/app"),
    ],
)
def test_a_bad_url_never_shows_its_password(url: str, shown: str) -> None:
    with pytest.raises(InvalidURL) as raised:
        create_engine(url)
    assert "s3cr3t" not in str(raised.value)
    assert f"'{shown}'" in str(raised.value)


def test_an_unknown_option_names_the_nearest_one() -> None:
    with pytest.raises(InvalidOption, match="did you mean 'pool_size'"):
        create_engine("sqlite:///tmp/x.db?pool_sise=3")
    with pytest.raises(InvalidOption, match="statement_timeout"):
        create_engine("sqlite:///tmp/x.db", statement_timeout="soon")


@pytest.mark.parametrize(
    ("module", "url"),
    [
        ("sqlalchemy", "sqlite:///tmp/x.db"),
        ("aiosqlite", "sqlite:///tmp/x.db"),
        ("pymysql", "mysql://db/app"),
    ],
)
def test_a_missing_driver_names_the_extra_to_install(
    module: str, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    make = create_async_engine if module == "aiosqlite" else create_engine
    with pytest.raises(MissingDependency, match=r"pip install 'anker\[db\]'") as raised:
        make(url)
    assert raised.value.package == module


def test_the_option_group_declares_the_engine_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine_options = {field.name for field in dataclasses.fields(EngineSettings)}
    group_options = set(DatabaseOptions.__anker_declared__)
    assert group_options == engine_options | {"connection", "max_retries"}

    class ServiceConfig(Config):
        database: DatabaseOptions

    (tmp_path / "svc.conf").write_text(
        "[database]\n"
        "connection = postgresql://svc:${env:DB_PASSWORD}@db/svc?application_name=svc\n"
        "pool_size = 2\n"
        "statement_timeout = 1500ms\n"
    )
    conf = ServiceConfig.load(files=[str(tmp_path / "svc.conf")], environ={"DB_PASSWORD": "s3cr3t"})
    assert "s3cr3t" not in str(conf.database.connection)
    engine = create_engine(conf.database)
    assert engine.pool.size() == 2  # type: ignore[attr-defined]
    parsed = parse_database_url(conf.database.connection)
    args = target(
        parsed,
        engine_settings(parsed, {"statement_timeout": conf.database.statement_timeout}),
        asynchronous=False,
    ).connect_args
    assert args["options"] == "-c statement_timeout=1500"
    assert args["password"] == "s3cr3t"
    assert args["application_name"] == "svc"


def test_a_new_sqlite_file_is_private_and_gets_its_pragmas(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite://{tmp_path}/app.db", sqlite_busy_timeout="2s")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar_one() == 2000
    assert stat.S_IMODE(os.stat(tmp_path / "app.db").st_mode) == 0o600
    engine.dispose()
    engine = create_engine(
        f"sqlite://{tmp_path}/app.db", sqlite_foreign_keys=False, sqlite_wal=False
    )
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 0
    engine.dispose()


def test_four_slashes_name_the_same_absolute_file_as_three(tmp_path: Path) -> None:
    """sqlite:////abs/path is how SQLAlchemy writes an absolute path; anker's grammar writes
    sqlite:///abs/path. Both open the same file."""
    engine = create_engine(f"sqlite:///{tmp_path}/app.db")  # tmp_path is absolute: 4 slashes
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    assert (tmp_path / "app.db").is_file()
    engine = create_engine(f"sqlite://{tmp_path}/app.db")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    engine.dispose()


def test_sqlite_never_creates_a_missing_folder(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite://{tmp_path}/missing/app.db")
    with pytest.raises(DBConnectionError, match="no folder"), engine.connect():
        pass
    assert not (tmp_path / "missing").exists()


def failing(times: int, error: Exception) -> tuple[list[float], object]:
    calls: list[float] = []

    def work() -> str:
        calls.append(time.monotonic())
        if len(calls) <= times:
            raise error
        return "done"

    return calls, work


def test_retrying_runs_a_unit_of_work_again_after_short_jittered_delays() -> None:
    calls, work = failing(3, DBDeadlock("sqlite:///x", "execute", "locked"))
    assert retrying(max_retries=3)(work)() == "done"  # type: ignore[arg-type]
    assert len(calls) == 4
    calls, work = failing(3, DBConnectionError("sqlite:///x", "execute", "gone"))
    with pytest.raises(DBConnectionError):
        retrying(max_retries=2)(work)()  # type: ignore[arg-type]
    assert len(calls) == 3


def test_failures_to_connect_do_not_count_against_max_retries_but_end_at_the_deadline() -> None:
    refused = DBConnectionError("postgresql://db/x", "connect", "Connection refused")
    calls, work = failing(8, refused)
    quick = Backoff(first=0.001, cap=0.002, deadline=30.0)
    assert retrying(max_retries=1, backoff=quick)(work)() == "done"  # type: ignore[arg-type]
    assert len(calls) == 9
    calls, work = failing(10**9, refused)
    with pytest.raises(DBConnectionError):
        retrying(max_retries=1, backoff=Backoff(first=0.001, cap=0.002, deadline=0.05))(work)()  # type: ignore[arg-type]
    assert len(calls) > 2  # gave up at the deadline, not after one retry


async def test_an_async_unit_of_work_counts_only_attempts_that_reached_the_database() -> None:
    errors = [
        DBConnectionError("postgresql://db/x", "connect", "Connection refused"),
        DBConnectionError("postgresql://db/x", "connect", "Connection refused"),
        DBDeadlock("postgresql://db/x", "execute", "deadlock detected"),
        DBConnectionError("postgresql://db/x", "connect", "Connection refused"),
    ]
    calls: list[int] = []

    @retrying(max_retries=1, backoff=Backoff(first=0.001, cap=0.002, deadline=30.0))
    async def work() -> int:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return len(calls)

    assert await work() == 5
    errors[:] = [DBDeadlock("postgresql://db/x", "execute", "deadlock detected")] * 2
    calls.clear()
    with pytest.raises(DBDeadlock):
        await work()
    assert len(calls) == 2


def test_retrying_leaves_other_errors_alone() -> None:
    calls, work = failing(1, DBDataError("sqlite:///x", "execute", "too long"))
    with pytest.raises(DBDataError):
        retrying(work)()  # type: ignore[arg-type]
    assert len(calls) == 1


def test_retrying_never_retries_inside_the_callers_transaction(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite://{tmp_path}/app.db")
    calls: list[object] = []

    @retrying
    def inner(connection: object) -> None:
        calls.append(connection)
        raise DBDeadlock("sqlite:///x", "execute", "locked")

    with pytest.raises(DBDeadlock), engine.begin() as connection:
        inner(connection)
    assert len(calls) == 1

    @retrying(max_retries=2)
    def outer() -> None:
        with engine.begin() as connection:
            inner(connection)  # nested: the outer unit of work retries the whole

    calls.clear()
    with pytest.raises(DBDeadlock):
        outer()
    assert len(calls) == 3
    engine.dispose()


async def test_retrying_an_async_unit_of_work() -> None:
    calls: list[int] = []

    @retrying(max_retries=2, backoff=Backoff(first=0.001, cap=0.01))
    async def work() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise DBDeadlock("sqlite:///x", "execute", "locked")
        return len(calls)

    assert await work() == 3
    with pytest.raises(ValueError, match="max_retries"):
        retrying(max_retries=-1)
