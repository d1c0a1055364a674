"""mypy sees declared options with their types, and the loaded configuration as the class."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from anker.config import Config, option

PROGRAM = textwrap.dedent(
    """
    from datetime import timedelta
    from typing import assert_type

    from anker import Secret
    from anker.config import Config, Group, option


    class Database(Group):
        connection: Secret[str] = option(help="URL.")
        max_pool_size: int = option(5, min=1)
        timeout: timedelta = option("30s")
        replica: str | None = option(None)


    class Svc(Config):
        debug: bool = option(False)
        database: Database


    conf = Svc.load(overrides={"database.connection": "sqlite://"})
    assert_type(conf, Svc)
    assert_type(conf.debug, bool)
    assert_type(conf.database.connection, Secret[str])
    assert_type(conf.database.connection.reveal(), str)
    assert_type(conf.database.max_pool_size, int)
    assert_type(conf.database.timeout, timedelta)
    assert_type(conf.database.replica, str | None)
    conf.database.max_pool_size + "x"  # the checker must refuse this line
    """
)


def test_mypy_follows_the_declared_types(tmp_path: Path) -> None:
    program = tmp_path / "typed_config.py"
    program.write_text(PROGRAM)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(program)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stdout
    assert 'Unsupported operand types for + ("int" and "str")' in errors[0]


def test_required_is_said_explicitly_and_takes_no_default() -> None:
    class Conf(Config):
        token: str = option(required=True)

    with pytest.raises(Exception, match=r"\[DEFAULT\] token is required but not set"):
        Conf.load()
    with pytest.raises(TypeError, match="a required option takes no default"):
        option("x", required=True)
