"""``create_engine`` and ``create_async_engine``: SQLAlchemy engines from an anker URL (or a
``[database]`` option group), with timeouts on every layer, SQLite's pragmas, and every driver
error translated to :mod:`anker.db`'s classes at the engine's boundary.

SQLAlchemy is imported here, on first use, through :func:`anker.drivers.require`.
"""

from __future__ import annotations

import sqlite3
import weakref
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from anker._drivers import require
from anker._engines.sqlite import DatabaseMissing, prepare_file
from anker._live import track
from anker.db._errors import DBConnectionError, DBError
from anker.db._options import DatabaseOptions
from anker.db._settings import (
    DRIVER_MODULES,
    EngineSettings,
    Target,
    engine_settings,
    option_names,
    parse_database_url,
    target,
)
from anker.db._translate import classify, translate

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import ExceptionContext
    from sqlalchemy.ext.asyncio import AsyncEngine

    from anker._url import BackendURL

__all__ = ["create_async_engine", "create_engine", "url_of"]

_EXTRA = "db"
#: the anker URL of every engine made here, for errors raised outside its boundary (a probe's)
_URLS: weakref.WeakKeyDictionary[Any, BackendURL] = weakref.WeakKeyDictionary()


def url_of(engine: Engine) -> BackendURL | None:
    """The anker URL ``engine`` was made from (None: not made by anker.db)."""
    return _URLS.get(engine)


def create_engine(url: str | BackendURL | DatabaseOptions, /, **options: object) -> Engine:
    """A SQLAlchemy :class:`~sqlalchemy.Engine` for ``url`` (``postgresql://``, ``mysql://``,
    ``mariadb://`` or ``sqlite:///path``), or for the ``connection`` of a
    :class:`DatabaseOptions` group and its other options.

    ``options`` are the engine's options (``pool_size=10``, ``statement_timeout="5s"``; see
    :class:`DatabaseOptions`), which the URL's query may give too. Nothing is connected yet.
    Raises :class:`~anker.errors.InvalidURL`, :class:`~anker.errors.InvalidOption`, or
    :class:`~anker.errors.MissingDependency` naming the extra to install.
    """
    plan = _plan(url, options, asynchronous=False)
    sqlalchemy = require("sqlalchemy", extra=_EXTRA, needed_for="anker.db")
    engine: Engine = sqlalchemy.create_engine(
        _sqlalchemy_url(plan), **_engine_arguments(plan, asynchronous=False)
    )
    _install(engine, plan)
    _track(engine)
    return engine


def create_async_engine(
    url: str | BackendURL | DatabaseOptions, /, **options: object
) -> AsyncEngine:
    """As :func:`create_engine`, an :class:`~sqlalchemy.ext.asyncio.AsyncEngine` (psycopg's
    async connections, aiomysql, aiosqlite)."""
    plan = _plan(url, options, asynchronous=True)
    asyncio_ext = require("sqlalchemy.ext.asyncio", extra=_EXTRA, needed_for="anker.db")
    engine: AsyncEngine = asyncio_ext.create_async_engine(
        _sqlalchemy_url(plan), **_engine_arguments(plan, asynchronous=True)
    )
    _install(engine.sync_engine, plan)
    _track(engine)
    return engine


def _track(engine: Engine | AsyncEngine) -> None:
    """Tell health registries that discover parts about ``engine`` (until it is collected).

    Not until ``dispose()``: SQLAlchemy's ``engine_disposed`` is a connection event, and any
    connection event puts every statement of the engine on its slower path (94 more Python
    calls per primary-key read).
    """
    track(engine, "db")


def _plan(
    url: str | BackendURL | DatabaseOptions, options: dict[str, object], *, asynchronous: bool
) -> Target:
    if isinstance(url, DatabaseOptions):
        options = {**_from_group(url), **options}
        url = url.connection
    parsed = parse_database_url(url)
    plan = target(parsed, engine_settings(parsed, options), asynchronous=asynchronous)
    require(
        DRIVER_MODULES[plan.drivername],
        extra=_EXTRA,
        needed_for=f"anker.db on {parsed.scheme}:// ({plan.drivername})",
    )
    return plan


def _from_group(group: DatabaseOptions) -> dict[str, object]:
    """The group's engine options that differ from the defaults (so an option in the
    connection URL's query is not contradicted by a default)."""
    defaults = EngineSettings()
    given: dict[str, object] = {}
    for name in option_names():
        value = getattr(group, name)
        plain = value.total_seconds() if isinstance(value, timedelta) else value
        if plain != getattr(defaults, name):
            given[name] = value
    return given


def _sqlalchemy_url(plan: Target) -> Any:
    sqlalchemy_engine = require("sqlalchemy.engine", extra=_EXTRA, needed_for="anker.db")
    # credentials travel in connect_args, never in SQLAlchemy's URL (which engines repr)
    return sqlalchemy_engine.URL.create(plan.drivername, database=plan.database, query=plan.query)


def _engine_arguments(plan: Target, *, asynchronous: bool) -> dict[str, Any]:
    from anker.db._pool import pool_class  # imports SQLAlchemy: only once it is required

    settings = plan.settings
    return {
        "poolclass": pool_class(asynchronous=asynchronous),
        "connect_args": plan.connect_args,
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_recycle": settings.pool_recycle or -1,
        "pool_timeout": settings.pool_timeout,
        "pool_pre_ping": settings.pool_pre_ping,
    }


def _install(engine: Engine, plan: Target) -> None:
    """The engine's event handlers: error translation, a check of each pooled connection at
    checkout (not SQLite's: no server closes them), and per-connection setup; none of them
    costs a statement a Python call while no error happens."""
    from anker.db._pool import configure_pool
    from anker.db._quiet import quiet_statement_hooks

    event = require("sqlalchemy.event", extra=_EXTRA, needed_for="anker.db")
    url = _URLS[engine] = plan.url
    configure_pool(engine, str(url), check=plan.sqlite_path is None)

    def handle_error(context: ExceptionContext) -> DBError | None:
        original = context.original_exception
        if isinstance(original, DBError):
            return None
        if not isinstance(original, context.dialect.loaded_dbapi.Error):
            return None  # not the driver's (SQLAlchemy's own, a bug, an interrupt): as it is
        options = getattr(context.execution_context, "execution_options", {})
        if options.get("skip_user_error_events"):
            return None  # a dialect probing (MariaDB's has_table catches the driver's error)
        error = classify(
            original,
            connecting=context.connection is None,
            disconnect=context.is_disconnect,
        )
        if error is DBConnectionError:
            context.is_disconnect = True  # the pool drops this connection and older ones
        if context.is_pre_ping:
            return None  # the pool reconnects; nothing to raise
        compiled = getattr(context.execution_context, "compiled", None)
        table = getattr(getattr(compiled, "statement", None), "table", None)
        operation = "connect" if context.connection is None else "execute"
        return translate(original, error, url=url, operation=operation, table=table)

    event.listen(engine, "handle_error", handle_error)
    if plan.sqlite_path is not None:
        _install_sqlite(engine, plan, event)
    elif url.scheme in ("mysql", "mariadb") and plan.settings.statement_timeout:
        _install_mysql(engine, plan, event)
    # handle_error is a dialect event: with it, every statement would walk the dialect's
    # empty do_execute hooks (two Python calls); quieted, the walk is a loop over a tuple
    quiet_statement_hooks(engine.dialect)


def _install_sqlite(engine: Engine, plan: Target, event: Any) -> None:
    path, settings = plan.sqlite_path, plan.settings
    assert path is not None

    def do_connect(*_: object) -> None:
        try:
            prepare_file(path, create=settings.sqlite_create)
        except DatabaseMissing as exc:  # a driver error, so the engine translates it
            raise sqlite3.OperationalError(f"unable to open database file: {exc}") from exc

    def on_connect(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {round(settings.sqlite_busy_timeout * 1000)}")
            cursor.execute(
                f"PRAGMA foreign_keys = {'ON' if settings.sqlite_foreign_keys else 'OFF'}"
            )
            if settings.sqlite_wal:
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    event.listen(engine, "do_connect", do_connect)
    event.listen(engine, "connect", on_connect)


def _install_mysql(engine: Engine, plan: Target, event: Any) -> None:
    seconds = plan.settings.statement_timeout

    def on_connect(dbapi_connection: Any, _record: object) -> None:
        # MariaDB bounds every statement (seconds); MySQL only SELECTs (milliseconds)
        if getattr(engine.dialect, "is_mariadb", False):
            statement = f"SET SESSION max_statement_time = {seconds:.3f}"
        else:
            statement = f"SET SESSION max_execution_time = {max(1, round(seconds * 1000))}"
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()

    event.listen(engine, "connect", on_connect)
