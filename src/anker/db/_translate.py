"""Which :mod:`anker.db` error a driver's exception is, the same on every database: by SQLSTATE
on PostgreSQL, by error number on MariaDB/MySQL, by message on SQLite (whose numbers are too
coarse: one code for every constraint). Pure functions of the exception; no I/O."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from anker._drivers import describe_error
from anker.db._errors import (
    DBConnectionError,
    DBConstraintError,
    DBDataError,
    DBDeadlock,
    DBDuplicateEntry,
    DBError,
)

if TYPE_CHECKING:
    from anker._url import BackendURL

__all__ = ["classify", "translate"]

#: PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_PG_CODES: dict[str, type[DBError]] = {
    "23505": DBDuplicateEntry,  # unique_violation
    "40001": DBDeadlock,  # serialization_failure
    "40P01": DBDeadlock,  # deadlock_detected
    "55P03": DBDeadlock,  # lock_not_available (lock_timeout ran out)
    "57P01": DBConnectionError,  # admin_shutdown: pg_terminate_backend, a fast shutdown
    "57P02": DBConnectionError,  # crash_shutdown
    "57P03": DBConnectionError,  # cannot_connect_now: starting up, shutting down
    "53300": DBConnectionError,  # too_many_connections
    "28000": DBConnectionError,  # invalid_authorization_specification
    "28P01": DBConnectionError,  # invalid_password
    "3D000": DBConnectionError,  # invalid_catalog_name: the database does not exist
}
#: ... and their classes, by the first two characters
_PG_CLASSES: dict[str, type[DBError]] = {
    "08": DBConnectionError,  # connection_exception
    "22": DBDataError,  # data_exception: too long, out of range, invalid text representation
    "23": DBConstraintError,  # integrity_constraint_violation
}
#: MariaDB/MySQL error numbers (server errors below 2000, client errors from 2000)
_MYSQL_CODES: dict[int, type[DBError]] = {
    1213: DBDeadlock,  # ER_LOCK_DEADLOCK
    1205: DBDeadlock,  # ER_LOCK_WAIT_TIMEOUT
    1062: DBDuplicateEntry,  # ER_DUP_ENTRY
    1586: DBDuplicateEntry,  # ER_DUP_ENTRY_WITH_KEY_NAME
    1451: DBConstraintError,  # ER_ROW_IS_REFERENCED_2
    1452: DBConstraintError,  # ER_NO_REFERENCED_ROW_2
    1216: DBConstraintError,  # ER_NO_REFERENCED_ROW
    1217: DBConstraintError,  # ER_ROW_IS_REFERENCED
    1048: DBConstraintError,  # ER_BAD_NULL_ERROR
    3819: DBConstraintError,  # ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
    4025: DBConstraintError,  # ER_CONSTRAINT_FAILED (MariaDB's CHECK)
    1406: DBDataError,  # ER_DATA_TOO_LONG
    1264: DBDataError,  # ER_WARN_DATA_OUT_OF_RANGE
    1265: DBDataError,  # WARN_DATA_TRUNCATED
    1292: DBDataError,  # ER_TRUNCATED_WRONG_VALUE
    1366: DBDataError,  # ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
    1690: DBDataError,  # ER_DATA_OUT_OF_RANGE
    1040: DBConnectionError,  # ER_CON_COUNT_ERROR: too many connections
    1045: DBConnectionError,  # ER_ACCESS_DENIED_ERROR
    1049: DBConnectionError,  # ER_BAD_DB_ERROR: the database does not exist
    1053: DBConnectionError,  # ER_SERVER_SHUTDOWN
    1927: DBConnectionError,  # ER_CONNECTION_KILLED (MariaDB)
    2002: DBConnectionError,  # CR_CONNECTION_ERROR (socket)
    2003: DBConnectionError,  # CR_CONN_HOST_ERROR: refused, unreachable
    2005: DBConnectionError,  # CR_UNKNOWN_HOST
    2006: DBConnectionError,  # CR_SERVER_GONE_ERROR
    2013: DBConnectionError,  # CR_SERVER_LOST
    2014: DBConnectionError,  # CR_COMMANDS_OUT_OF_SYNC: the connection is unusable
    2045: DBConnectionError,  # CR_SHARED_MEMORY_CONNECT_ERROR
    2055: DBConnectionError,  # CR_SERVER_LOST_EXTENDED
    4031: DBConnectionError,  # ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8.0.24+: wait_timeout)
}
#: SQLite messages, by their start
_SQLITE_MESSAGES: tuple[tuple[str, type[DBError]], ...] = (
    ("UNIQUE constraint failed", DBDuplicateEntry),
    ("FOREIGN KEY constraint failed", DBConstraintError),
    ("NOT NULL constraint failed", DBConstraintError),
    ("CHECK constraint failed", DBConstraintError),
    ("database is locked", DBDeadlock),
    ("database table is locked", DBDeadlock),
    ("cannot store", DBDataError),  # a STRICT table: "cannot store TEXT value in INTEGER column"
    ("datatype mismatch", DBDataError),
    ("string or blob too big", DBDataError),
    ("unable to open database file", DBConnectionError),
)

_PG_KEY = re.compile(r"Key \((.+?)\)=\(")
_MYSQL_KEY = re.compile(r"for key '(?:[^']*\.)?([^'.]+)'")
_SQLITE_COLUMNS = re.compile(r"UNIQUE constraint failed: (.+)$")


def classify(
    exc: BaseException, *, connecting: bool = False, disconnect: bool = False
) -> type[DBError]:
    """The :class:`DBError` class for driver exception ``exc``. ``connecting``: it was raised
    while opening a connection; ``disconnect``: SQLAlchemy's dialect saw the connection die."""
    found = _classify(exc)
    if disconnect or (connecting and found is DBError):
        return DBConnectionError
    return found


def _classify(exc: BaseException) -> type[DBError]:
    code = exc.args[0] if exc.args else None
    if isinstance(code, int):  # PyMySQL, aiomysql: (errno, message), and maybe a SQLSTATE
        return _MYSQL_CODES.get(code, DBError)
    sqlstate = getattr(exc, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str) and sqlstate:
        return _PG_CODES.get(sqlstate) or _PG_CLASSES.get(sqlstate[:2], DBError)
    if type(exc).__module__ == "sqlite3":
        message = str(exc)
        for start, error in _SQLITE_MESSAGES:
            if message.startswith(start):
                return error
    return DBError


def translate(
    exc: BaseException,
    error: type[DBError],
    *,
    url: BackendURL,
    operation: str,
    table: Any = None,
) -> DBError:
    """The ``error`` for ``exc`` (to be raised ``from`` it), credentials of ``url`` masked.
    ``table`` is the SQLAlchemy ``Table`` the statement wrote, if known (MariaDB's duplicate
    errors name the key, not its columns)."""
    reason = describe_error(exc, url)
    shown = str(url)
    constraint = _constraint_name(exc)
    if error is DBDuplicateEntry:
        columns = _duplicate_columns(exc, table)
        return DBDuplicateEntry(shown, operation, reason, columns=columns, constraint=constraint)
    if error is DBConstraintError:
        return DBConstraintError(shown, operation, reason, constraint=constraint)
    return error(shown, operation, reason)


def _constraint_name(exc: BaseException) -> str | None:
    diag = getattr(exc, "diag", None)  # psycopg
    name = getattr(diag, "constraint_name", None)
    return name if isinstance(name, str) else None


def _duplicate_columns(exc: BaseException, table: Any) -> tuple[str, ...]:
    diag = getattr(exc, "diag", None)
    detail = getattr(diag, "message_detail", None)
    if isinstance(detail, str) and (match := _PG_KEY.search(detail)):
        return tuple(name.strip().strip('"') for name in match[1].split(","))
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if match := _MYSQL_KEY.search(message):
        return _key_columns(table, match[1]) or (match[1],)
    if match := _SQLITE_COLUMNS.search(str(exc)):  # "t.a, t.b"
        return tuple(name.strip().rpartition(".")[2] for name in match[1].split(","))
    return ()


def _key_columns(table: Any, key: str) -> tuple[str, ...] | None:
    """The columns of MariaDB/MySQL key ``key`` of SQLAlchemy ``table``: a named constraint or
    index, the primary key (``PRIMARY``), or an unnamed unique constraint, which the server
    names after its first column."""
    if table is None or not hasattr(table, "constraints"):
        return None
    if key == "PRIMARY":
        return tuple(column.name for column in table.primary_key.columns)
    candidates = [*table.constraints, *getattr(table, "indexes", ())]
    for candidate in candidates:
        if isinstance(candidate.name, str) and candidate.name == key:
            return tuple(column.name for column in candidate.columns)
    for candidate in candidates:
        names = [column.name for column in getattr(candidate, "columns", ())]
        if not isinstance(candidate.name, str) and names and names[0] == key:
            return tuple(names)
    column = table.columns.get(key)
    return (key,) if column is not None and column.unique else None
