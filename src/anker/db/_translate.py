"""Which :mod:`anker.db` error a driver's exception is, the same on every database: by SQLSTATE
on PostgreSQL, by error number on MariaDB/MySQL, by message on SQLite (whose numbers are too
coarse: one code for every constraint). libpq's failures to connect or to read carry no
SQLSTATE in psycopg 3, so those are told by their wording. Pure functions of the exception;
no I/O."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from anker._drivers import describe_error
from anker.db._errors import (
    DBAccessDenied,
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
    "57P05": DBConnectionError,  # idle_session_timeout: the server ended an idle session
    "25P03": DBConnectionError,  # idle_in_transaction_session_timeout: the same in a transaction
    "53300": DBConnectionError,  # too_many_connections
    "28000": DBAccessDenied,  # invalid_authorization_specification
    "28P01": DBAccessDenied,  # invalid_password
    "3D000": DBAccessDenied,  # invalid_catalog_name: the database does not exist
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
    1044: DBAccessDenied,  # ER_DBACCESS_DENIED_ERROR: the user may not use the database
    1045: DBAccessDenied,  # ER_ACCESS_DENIED_ERROR: wrong user or password
    1049: DBAccessDenied,  # ER_BAD_DB_ERROR: the database does not exist
    1130: DBAccessDenied,  # ER_HOST_NOT_PRIVILEGED: this host may not connect
    1698: DBAccessDenied,  # ER_ACCESS_DENIED_NO_PASSWORD_ERROR
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
    # (MariaDB's 4031 is ER_REFERENCED_TRG_DOES_NOT_EXIST: told apart by its words)
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

#: wordings of a connection that could not be made or was lost, for errors without a code
#: (libpq through psycopg 3; a PyMySQL or aiomysql error without an error number), lowercased
_TRANSIENT_WORDINGS = (
    "connection refused",  # libpq, and PyMySQL/aiomysql's 2003 "Can't connect ... refused"
    "could not connect to server",  # libpq before 14
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",  # 57P01 read as a lost connection
    "the database system is starting up",  # 57P03, which libpq reports without its SQLSTATE
    "the database system is shutting down",
    "the database system is not yet accepting connections",
    "the database system is in recovery mode",
    "sorry, too many clients already",
    "remaining connection slots are reserved",
    "could not receive data from server",
    "could not send data to server",
    "ssl connection has been closed unexpectedly",
    "ssl syscall error",
    "connection timeout expired",
    "timeout expired",
    "connection reset by peer",
    "no route to host",
    "network is unreachable",
    "could not translate host name",
    "the connection is closed",
    "the connection is lost",
    "can't connect to mysql server",
    "can't connect to server",
    "lost connection to mysql server",
    "lost connection to server",
    "mysql server has gone away",
    "server has gone away",
)
#: ... and of a server that turned the client away for good
_PERMANENT_WORDINGS = re.compile(
    r"password authentication failed|authentication failed for user|no pg_hba\.conf entry"
    r"|pg_hba\.conf rejects connection|no password supplied|is not permitted to log in"
    r'|permission denied for database|(?:database|role) ".*" does not exist'
    r"|access denied for user|unknown database"
)

_PG_KEY = re.compile(r"Key \((.+?)\)=\(")
_MYSQL_KEY = re.compile(r"for key '(?:[^']*\.)?([^'.]+)'")
_SQLITE_COLUMNS = re.compile(r"UNIQUE constraint failed: (.+)$")


def classify(
    exc: BaseException, *, connecting: bool = False, disconnect: bool = False
) -> type[DBError]:
    """The :class:`DBError` class for driver exception ``exc``. ``connecting``: it was raised
    while opening a connection; ``disconnect``: SQLAlchemy's dialect saw the connection die.

    :class:`DBAccessDenied` only while connecting: on an open connection the same codes are a
    statement the server refused (MariaDB's ``USE`` of a database that does not exist), and the
    connection is fine."""
    found = _classify(exc)
    if found is DBAccessDenied:
        return found if connecting else DBError
    if connecting and type(exc).__module__ == "sqlite3" and found in (DBError, DBConnectionError):
        # a file that cannot be opened (a wrong path, no permission, not a database) has no
        # server that comes back: retrying only delays the error by the backoff's deadline
        return DBAccessDenied
    if disconnect or (connecting and found is DBError):
        return DBConnectionError
    return found


def _classify(exc: BaseException) -> type[DBError]:
    code = exc.args[0] if exc.args else None
    if isinstance(code, int) and (found := _by_number(exc, code)) is not None:
        return found
    sqlstate = getattr(exc, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str) and sqlstate:
        return _PG_CODES.get(sqlstate) or _PG_CLASSES.get(sqlstate[:2], DBError)
    if type(exc).__module__ == "sqlite3":
        message = str(exc)
        for start, error in _SQLITE_MESSAGES:
            if message.startswith(start):
                return error
        return DBError
    return _by_wording(str(exc))


def _by_number(exc: BaseException, code: int) -> type[DBError] | None:
    """The class of a PyMySQL or aiomysql error, ``(errno, message)``."""
    if code == 4031 and "disconnected" not in str(exc).lower():
        return DBError  # MariaDB's: a trigger named in FOLLOWS/PRECEDES does not exist
    if code in _MYSQL_CODES:
        return _MYSQL_CODES[code]
    if code:
        return DBError  # a server's or client's error number that is not about the connection
    if type(exc).__name__ == "InterfaceError" and "mysql" in type(exc).__module__:
        return DBConnectionError  # PyMySQL's InterfaceError(0, ""): the connection is closed
    return None


def _by_wording(message: str) -> type[DBError]:
    """The class of an error without a code, by its wording; an outage wins over a refusal
    (libpq lists every host it tried: one of them down is worth trying again)."""
    lowered = message.lower()
    if any(wording in lowered for wording in _TRANSIENT_WORDINGS):
        return DBConnectionError
    if _PERMANENT_WORDINGS.search(lowered):
        return DBAccessDenied
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
