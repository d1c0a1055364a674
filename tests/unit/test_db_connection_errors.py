"""Refused, lost and denied connections, in the wordings of current libpq/psycopg 3, PyMySQL and
aiomysql: an outage is a transient DBConnectionError (retried), wrong credentials or a missing
database a DBAccessDenied (never retried). The drivers' exceptions are built as they raise them
(the restart tests in tests/integration/db meet the real ones)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import psycopg.errors
import pymysql.err
import pytest

from anker.db import DBAccessDenied, DBConnectionError, DBError, create_engine, retrying
from anker.db._translate import classify
from anker.drivers import Backoff

LIBPQ = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: '

#: what libpq says through psycopg 3 (an OperationalError without a SQLSTATE) when it cannot
#: connect, or loses the connection
PG_OUTAGES = [
    LIBPQ + "Connection refused\n\tIs the server running on that host and accepting TCP/IP"
    " connections?",
    LIBPQ + "connection refused",
    "consuming input failed: server closed the connection unexpectedly\n\tThis probably means"
    " the server terminated abnormally\n\tbefore or while processing the request.",
    "consuming input failed: terminating connection due to administrator command\n"
    "server closed the connection unexpectedly",
    LIBPQ + "FATAL:  the database system is starting up",
    LIBPQ + "FATAL:  the database system is shutting down",
    LIBPQ + "FATAL:  the database system is not yet accepting connections",
    LIBPQ + "FATAL:  sorry, too many clients already",
    'could not connect to server: Connection refused\n\tIs the server running on host "db"',
    "connection timeout expired",
    "the connection is lost",
]
PG_DENIALS = [
    LIBPQ + 'FATAL:  password authentication failed for user "svc"',
    LIBPQ + 'FATAL:  role "nobody" does not exist',
    LIBPQ + 'FATAL:  database "nope" does not exist',
    LIBPQ + 'FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "svc", database "svc"',
    LIBPQ + "fe_sendauth: no password supplied",
    LIBPQ + 'FATAL:  permission denied for database "svc"',
]
#: PyMySQL and aiomysql (which raises pymysql.err's classes) on a connection lost or refused
MYSQL_OUTAGES = [
    (2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)"),
    (2003, "Can't connect to MySQL server on '127.0.0.1'"),  # aiomysql
    (2006, "MySQL server has gone away (BrokenPipeError(32, 'Broken pipe'))"),
    (2013, "Lost connection to MySQL server during query"),
    (2013, "Lost connection to MySQL server during query ([Errno 104] Connection reset by peer)"),
    (4031, "The client was disconnected by the server because of inactivity."),
    (1053, "Server shutdown in progress"),
    (1927, "Connection was killed"),
    (1040, "Too many connections"),
]
MYSQL_DENIALS = [
    (1045, "Access denied for user 'svc'@'10.0.0.1' (using password: YES)"),
    (1044, "Access denied for user 'svc'@'%' to database 'other'"),
    (1049, "Unknown database 'nope'"),
    (1130, "Host '10.0.0.9' is not allowed to connect to this MariaDB server"),
]


@pytest.mark.parametrize("message", PG_OUTAGES)
def test_libpq_outage_wordings_are_transient_connection_errors(message: str) -> None:
    error = psycopg.OperationalError(message)
    assert error.sqlstate is None  # what libpq gives psycopg for these: only words
    assert classify(error) is DBConnectionError
    assert classify(error, connecting=True) is DBConnectionError


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.CannotConnectNow("the database system is starting up"),
        psycopg.errors.CannotConnectNow("the database system is shutting down"),
        psycopg.errors.CrashShutdown("terminating connection because of crash of another"),
        psycopg.errors.TooManyConnections("sorry, too many clients already"),
    ],
    ids=lambda error: f"{type(error).__name__}-{error.sqlstate}",
)
def test_postgres_outage_sqlstates_are_transient_connection_errors(
    error: psycopg.Error,
) -> None:
    assert classify(error) is DBConnectionError


@pytest.mark.parametrize("message", PG_DENIALS)
def test_libpq_denials_are_access_denied_while_connecting(message: str) -> None:
    assert classify(psycopg.OperationalError(message), connecting=True) is DBAccessDenied


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.InvalidPassword("password authentication failed for user"),
        psycopg.errors.InvalidAuthorizationSpecification('role "x" is not permitted to log in'),
        psycopg.errors.InvalidCatalogName('database "nope" does not exist'),
    ],
    ids=lambda error: error.sqlstate,
)
def test_postgres_denial_sqlstates_are_access_denied_while_connecting(
    error: psycopg.Error,
) -> None:
    assert classify(error, connecting=True) is DBAccessDenied


def test_an_outage_on_one_of_several_hosts_outweighs_a_denial_on_another() -> None:
    message = (
        LIBPQ + "Connection refused\n" + LIBPQ + 'FATAL:  password authentication failed for "x"'
    )
    assert classify(psycopg.OperationalError(message), connecting=True) is DBConnectionError


@pytest.mark.parametrize(("code", "message"), MYSQL_OUTAGES)
@pytest.mark.parametrize(
    "kind", [pymysql.err.OperationalError, pymysql.err.InternalError, pymysql.err.InterfaceError]
)
def test_mysql_outages_are_transient_connection_errors(
    kind: type[pymysql.err.Error], code: int, message: str
) -> None:
    assert classify(kind(code, message)) is DBConnectionError


@pytest.mark.parametrize(("code", "message"), MYSQL_DENIALS)
def test_mysql_denials_are_access_denied_while_connecting(code: int, message: str) -> None:
    assert classify(pymysql.err.OperationalError(code, message), connecting=True) is DBAccessDenied


def test_a_denial_on_an_open_connection_is_a_refused_statement_not_a_lost_connection() -> None:
    # MariaDB's `USE nope`: the connection is fine, the statement failed
    assert classify(pymysql.err.OperationalError(1049, "Unknown database 'nope'")) is DBError
    assert classify(psycopg.errors.InvalidCatalogName("nope")) is DBError


def test_mysql_outage_wordings_without_an_error_number_are_still_recognised() -> None:
    for message in ("Lost connection to MySQL server during query", "Connection refused"):
        assert classify(pymysql.err.OperationalError(message)) is DBConnectionError


def test_other_errors_are_not_taken_for_connection_errors() -> None:
    assert classify(psycopg.OperationalError("something else went wrong")) is DBError
    assert classify(pymysql.err.OperationalError(1064, "You have an error in your SQL")) is (
        DBError
    )
    assert classify(psycopg.errors.UndefinedTable('relation "x" does not exist')) is DBError


def test_access_denied_is_a_connection_error_that_is_not_transient() -> None:
    denied = DBAccessDenied("postgresql://svc@db/svc", "connect", "password authentication")
    lost = DBConnectionError("postgresql://svc@db/svc", "connect", "Connection refused")
    assert isinstance(denied, DBConnectionError)
    assert denied.transient is False
    assert lost.transient is True


def test_retrying_never_retries_access_denied() -> None:
    calls: list[int] = []

    @retrying(max_retries=5, backoff=Backoff(first=0.001, cap=0.01))
    def work() -> None:
        calls.append(1)
        raise DBAccessDenied("mysql://svc@db/svc", "connect", "(1045, 'Access denied')")

    with pytest.raises(DBAccessDenied):
        work()
    assert len(calls) == 1  # no retry


async def test_retrying_never_retries_access_denied_in_async_code_either() -> None:
    calls: list[int] = []

    @retrying(max_retries=5, backoff=Backoff(first=0.001, cap=0.01))
    async def work() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise DBConnectionError("mysql://svc@db/svc", "connect", "refused")
        raise DBAccessDenied("mysql://svc@db/svc", "connect", "(1049, 'Unknown database')")

    with pytest.raises(DBAccessDenied):
        await work()
    assert len(calls) == 2  # the outage was retried, the denial was not


def test_a_sqlite_file_that_cannot_be_opened_is_not_retried(tmp_path: Path) -> None:
    assert (
        classify(sqlite3.OperationalError("unable to open database file"), connecting=True)
        is DBAccessDenied
    )
    # the same words on an open connection (a file removed under it) stay a lost connection
    assert classify(sqlite3.OperationalError("unable to open database file")) is DBConnectionError
    engine = create_engine(f"sqlite://{tmp_path}/no/such/folder/app.db")
    calls: list[int] = []

    @retrying(max_retries=5)  # the default backoff: a retried open would wait for 30 s
    def read() -> None:
        calls.append(1)
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    with pytest.raises(DBAccessDenied) as raised:
        read()
    assert calls == [1]
    assert raised.value.operation == "connect"
    engine.dispose()


def test_within_retries_a_refused_connection_only_for_its_seconds() -> None:
    from anker.db._retry import within

    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise DBConnectionError("postgresql://svc@db/svc", "connect", "connection refused")

    with pytest.raises(DBConnectionError, match="connection refused"):
        within(0.3, work)()  # the caller gives up after 0.3 s: so does the work
    assert len(calls) > 1  # it was retried, and it ended
