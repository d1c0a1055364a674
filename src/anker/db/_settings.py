"""The engine options of anker.db, and how an anker URL becomes a SQLAlchemy engine's
arguments: the dialect and driver, connection arguments with timeouts on every layer.

``postgresql://`` maps to ``postgresql+psycopg``, ``mysql://`` and ``mariadb://`` to
``mysql+pymysql`` (``mysql+aiomysql`` for an async engine), ``sqlite:///path`` to ``sqlite``
(``sqlite+aiosqlite``). Options come from the URL's query (``?pool_size=10``) or keywords, as
every anker driver's do, parsed by :func:`anker.drivers.parse_settings`.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

from anker._drivers import DriverSettings, Seconds, parse_settings, setting
from anker._engines.postgres import LibpqSettings, connect_params
from anker._engines.sqlite import file_path
from anker._url import BackendURL, parse_url
from anker.errors import InvalidURL

__all__ = ["SCHEMES", "EngineSettings", "Target", "engine_settings", "target"]

#: the schemes anker.db knows, and the SQLAlchemy dialect+driver of each (sync, async)
SCHEMES: dict[str, tuple[str, str]] = {
    "postgresql": ("postgresql+psycopg", "postgresql+psycopg_async"),
    "mysql": ("mysql+pymysql", "mysql+aiomysql"),
    "mariadb": ("mysql+pymysql", "mysql+aiomysql"),
    "sqlite": ("sqlite", "sqlite+aiosqlite"),
}
#: the client library of each dialect+driver, imported when an engine is made
DRIVER_MODULES = {
    "postgresql+psycopg": "psycopg",
    "postgresql+psycopg_async": "psycopg",
    "mysql+pymysql": "pymysql",
    "mysql+aiomysql": "aiomysql",
    "sqlite": "sqlite3",
    "sqlite+aiosqlite": "aiosqlite",
}


@dataclass(frozen=True)
class EngineSettings(DriverSettings):
    """The options of an engine, the same for every database (each ignores the others'
    ``sqlite_*``); :class:`anker.db.DatabaseOptions` declares the same names for config files."""

    pool_size: int = setting(5, min=1, help="connections the pool keeps open")
    max_overflow: int = setting(10, min=0, help="connections opened beyond pool_size at a peak")
    pool_recycle: Seconds = setting(
        Seconds(3600.0), min=0, help="replace a pooled connection older than this (0: never)"
    )
    pool_timeout: Seconds = setting(
        Seconds(10.0), min=0.001, help="how long to wait for a free connection of the pool"
    )
    pool_pre_ping: bool = setting(
        False,
        help="ping every connection at checkout (a round trip; without it, a connection the"
        " server closed is replaced at checkout all the same)",
    )
    connect_timeout: Seconds = setting(
        Seconds(10.0), min=0.001, help="how long opening a connection may take"
    )
    statement_timeout: Seconds = setting(
        Seconds(60.0), min=0, help="how long one statement may run (0: no limit)"
    )
    sqlite_busy_timeout: Seconds = setting(
        Seconds(5.0), min=0, help="SQLite: how long to wait for a lock another connection holds"
    )
    sqlite_foreign_keys: bool = setting(True, help="SQLite: enforce foreign keys")
    sqlite_wal: bool = setting(True, help="SQLite: write-ahead logging (readers never block)")
    sqlite_create: bool = setting(True, help="SQLite: create a missing database file")


@dataclass(frozen=True)
class PostgresEngineSettings(EngineSettings, LibpqSettings):
    """The engine's options plus libpq's (``?sslmode=verify-full`` and the like)."""


@dataclass(frozen=True)
class MySQLEngineSettings(EngineSettings):
    charset: str = setting("utf8mb4", help="the connection's character set")


_SETTINGS: dict[str, type[EngineSettings]] = {
    "postgresql": PostgresEngineSettings,
    "mysql": MySQLEngineSettings,
    "mariadb": MySQLEngineSettings,
    "sqlite": EngineSettings,
}


@dataclass(frozen=True)
class Target:
    """What SQLAlchemy's ``create_engine`` is given for one anker URL."""

    url: BackendURL
    settings: EngineSettings
    drivername: str
    database: str | None  # SQLAlchemy URL's database part (the SQLite file URI)
    connect_args: dict[str, Any]
    sqlite_path: Path | None = None
    query: dict[str, str] = field(default_factory=dict)  # SQLAlchemy URL's query

    @property
    def scheme(self) -> str:
        return self.url.scheme


def engine_settings(url: BackendURL, options: dict[str, object]) -> EngineSettings:
    """The settings for ``url`` from its query and ``options``, checked."""
    where = f"the '{url.scheme}://' database engine"
    return parse_settings(_SETTINGS[url.scheme], url, options, where=where)


def parse_database_url(url: BackendURL | str) -> BackendURL:
    """``url`` parsed, its scheme one anker.db knows (else an ``InvalidURL`` with a
    did-you-mean: SQLAlchemy's ``postgresql+psycopg://`` form names the scheme to use)."""
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.scheme in SCHEMES:
        return parsed
    base = parsed.scheme.partition("+")[0]
    close = [base] if base in SCHEMES else difflib.get_close_matches(base, SCHEMES, n=1)
    known = ", ".join(f"{scheme}://" for scheme in sorted(SCHEMES))
    hint = f"; did you mean '{close[0]}://'?" if close else ""
    raise InvalidURL(str(parsed), f"anker.db knows {known}, not '{parsed.scheme}://'{hint}")


def target(url: BackendURL, settings: EngineSettings, *, asynchronous: bool) -> Target:
    """The dialect, database and connection arguments for ``url``: every timeout set."""
    drivername = SCHEMES[url.scheme][1 if asynchronous else 0]
    if url.scheme == "postgresql":
        return _postgres(url, settings, drivername)
    if url.scheme == "sqlite":
        return _sqlite(url, settings, drivername)
    return _mysql(url, settings, drivername, asynchronous=asynchronous)


def _postgres(url: BackendURL, settings: EngineSettings, drivername: str) -> Target:
    assert isinstance(settings, PostgresEngineSettings)
    params, password = connect_params(url, settings, settings.connect_timeout)
    if settings.statement_timeout:
        params["options"] = (
            f"-c statement_timeout={max(1, round(settings.statement_timeout * 1000))}"
        )
    else:
        params.pop("options")
    connect_args: dict[str, Any] = dict(params)
    if password is not None:
        connect_args["password"] = password.reveal()
    return Target(url, settings, drivername, None, connect_args)


def _mysql(
    url: BackendURL, settings: EngineSettings, drivername: str, *, asynchronous: bool
) -> Target:
    assert isinstance(settings, MySQLEngineSettings)
    if len(url.endpoints) != 1:
        raise InvalidURL(
            str(url), f"{url.scheme}:// takes one host, e.g. {url.scheme}://db:3306/app"
        )
    endpoint = url.endpoints[0]
    connect_args: dict[str, Any] = {
        "host": endpoint.host,
        "port": endpoint.port or 3306,
        "charset": settings.charset,
        # whole seconds for PyMySQL (at least 1); aiomysql takes the same
        "connect_timeout": max(1, math.ceil(settings.connect_timeout)),
    }
    if endpoint.username is not None:
        connect_args["user"] = endpoint.username
    if endpoint.password is not None:
        connect_args["password"] = endpoint.password.reveal()
    if url.path.strip("/"):
        connect_args["database" if not asynchronous else "db"] = url.path.strip("/")
    if not asynchronous:  # aiomysql has no socket timeouts: asyncio bounds its waits
        connect_args["write_timeout"] = max(1, math.ceil(settings.connect_timeout))
        if settings.statement_timeout:
            # a reply may take as long as a statement may run, plus the trip; writes get the
            # same bound, since PyMySQL switches the socket's timeout (an ioctl each way, two
            # per statement) whenever the two differ
            wait = max(1, math.ceil(settings.statement_timeout + settings.connect_timeout))
            connect_args["read_timeout"] = connect_args["write_timeout"] = wait
    return Target(url, settings, drivername, None, connect_args)


def _sqlite(url: BackendURL, settings: EngineSettings, drivername: str) -> Target:
    if url.endpoints:
        raise InvalidURL(
            str(url), "sqlite:// takes a path only, not a host: sqlite:///var/lib/app.db"
        )
    if not url.path or url.path == "/":
        raise InvalidURL(str(url), "sqlite:// needs a path, e.g. sqlite:///var/lib/app.db")
    path = file_path(url.path, str(url))
    # mode=rw: SQLite never creates the file itself (anker does, private, in a folder that
    # must exist); uri=true makes both drivers read the name as a URI
    database = f"file:{quote(str(path))}"
    connect_args: dict[str, Any] = {"timeout": settings.sqlite_busy_timeout}
    if drivername == "sqlite":
        connect_args["check_same_thread"] = False  # the pool hands connections across threads
    query = {"mode": "rw", "uri": "true"}
    return Target(url, settings, drivername, database, connect_args, path, query)


def option_names() -> tuple[str, ...]:
    """The names of the common engine options, in declaration order."""
    return tuple(field.name for field in fields(EngineSettings))
