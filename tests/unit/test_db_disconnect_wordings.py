"""The exact errors the drivers raise when a connection is refused or lost, as captured from
real failures on this project's test machines, are disconnects (a transient DBConnectionError)
by anker's own classification, without SQLAlchemy's disconnect flag.

Captured with psycopg 3.3.9 (libpq 15) against PostgreSQL 15.20, PyMySQL 2.2.8 and aiomysql
0.3.2 against MariaDB 10.11.19: a closed port (refused), ``pg_terminate_backend`` and ``KILL``
on an idle connection, ``idle_session_timeout`` and ``wait_timeout``, and a private server
stopped (fast shutdown) and started while four threads kept connecting (starting up, shutting
down, closed unexpectedly). MySQL 8's 4031 is quoted from its server error reference
(ER_CLIENT_INTERACTION_TIMEOUT, MySQL 8.0.24+), which MariaDB does not send. Also the delays
``retrying`` waits between attempts, and the checkout's test of a socket."""

from __future__ import annotations

import socket

import psycopg
import psycopg.errors
import pymysql.err
import pytest

from anker.db import DBConnectionError, DBDeadlock, DBError
from anker.db._pool import _readable
from anker.db._retry import RECONNECT_CAP, _Delays
from anker.db._translate import classify
from anker.drivers import Backoff

AT = 'connection failed: connection to server at "127.0.0.1", port 55705 failed: '

#: psycopg 3 / libpq: OperationalError without a SQLSTATE, told by its words
LIBPQ_WORDINGS = {
    "refused": AT + "Connection refused\n\tIs the server running on that host and accepting"
    " TCP/IP connections?",
    "closed unexpectedly": AT + "server closed the connection unexpectedly\n\tThis probably"
    " means the server terminated abnormally\n\tbefore or while processing the request.",
    "starting up": AT + "FATAL:  the database system is starting up",
    "shutting down": AT + "FATAL:  the database system is shutting down",
    "terminated while connecting": AT + "FATAL:  terminating connection due to administrator"
    " command",
    "used after it was lost": "the connection is closed",
}
#: psycopg 3: the server's FATAL message, with its SQLSTATE, on an open connection
PSYCOPG_SQLSTATES = [
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    psycopg.errors.IdleSessionTimeout("terminating connection due to idle-session timeout"),
    psycopg.errors.IdleInTransactionSessionTimeout(
        "terminating connection due to idle-in-transaction timeout"
    ),
]
#: PyMySQL and aiomysql (which raises pymysql.err's classes)
MYSQL_ERRORS = {
    "pymysql refused": pymysql.err.OperationalError(
        2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)"
    ),
    "pymysql killed": pymysql.err.OperationalError(
        2013, "Lost connection to MySQL server during query"
    ),
    "pymysql used after it was lost": pymysql.err.InterfaceError(0, ""),
    "pymysql wait_timeout": pymysql.err.OperationalError(
        2006, "MySQL server has gone away (ConnectionResetError(104, 'Connection reset by peer'))"
    ),
    "pymysql restart": pymysql.err.OperationalError(
        2013, "Lost connection to MySQL server during query ([Errno 104] Connection reset by peer)"
    ),
    "mysql 8 idle timeout": pymysql.err.OperationalError(
        4031,
        "The client was disconnected by the server because of inactivity. See wait_timeout and"
        " interactive_timeout for configuring this behavior.",
    ),
    "aiomysql refused": pymysql.err.OperationalError(
        2003, "Can't connect to MySQL server on '127.0.0.1'"
    ),
    "aiomysql killed": pymysql.err.OperationalError(
        2013, "Lost connection to MySQL server during query"
    ),
    "aiomysql wait_timeout": pymysql.err.OperationalError(
        2013, "Lost connection to MySQL server during query ([Errno 104] Connection reset by peer)"
    ),
}


@pytest.mark.parametrize("message", LIBPQ_WORDINGS.values(), ids=LIBPQ_WORDINGS.keys())
def test_libpq_wordings_are_disconnects(message: str) -> None:
    error = psycopg.OperationalError(message)
    assert error.sqlstate is None
    assert classify(error) is DBConnectionError
    assert classify(error, connecting=True) is DBConnectionError


@pytest.mark.parametrize("error", PSYCOPG_SQLSTATES, ids=lambda error: error.sqlstate)
def test_the_servers_fatal_sqlstates_are_disconnects(error: psycopg.Error) -> None:
    assert classify(error) is DBConnectionError


@pytest.mark.parametrize("error", MYSQL_ERRORS.values(), ids=MYSQL_ERRORS.keys())
def test_pymysql_and_aiomysql_errors_are_disconnects(error: pymysql.err.Error) -> None:
    assert classify(error) is DBConnectionError


def test_pymysqls_other_interface_errors_are_not() -> None:
    assert classify(pymysql.err.InterfaceError("(0, '') is not this")) is not DBConnectionError


def test_mariadbs_4031_is_a_missing_trigger_not_mysqls_idle_timeout() -> None:
    # MariaDB 10.11's perror 4031: ER_REFERENCED_TRG_DOES_NOT_EXIST
    message = "Referenced trigger 'b' for the given action time and event type does not exist"
    assert classify(pymysql.err.OperationalError(4031, message)) is DBError


def test_failures_to_connect_back_off_briefly_and_the_rest_up_to_the_cap() -> None:
    delays = _Delays(Backoff(first=0.02, cap=1.0, deadline=30.0))
    refused = DBConnectionError("mysql://db/svc", "connect", "(2003, ...)")
    lost = DBConnectionError("mysql://db/svc", "execute", "(2013, ...)")
    deadlock = DBDeadlock("mysql://db/svc", "execute", "(1213, ...)")
    assert delays.after(refused).cap == RECONNECT_CAP
    assert delays.after(lost).cap == delays.after(deadlock).cap == 1.0
    assert max(delays.after(refused).next_delay() for _ in range(50)) <= RECONNECT_CAP
    lower = _Delays(Backoff(first=0.01, cap=0.05, deadline=1.0))
    assert lower.after(refused).cap == 0.05  # a lower cap of the caller's stands


def test_a_socket_is_readable_when_its_peer_closed_it_or_spoke_unasked() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not _readable(ours.fileno())  # idle and open: kept
        theirs.sendall(b"E")  # a last message before the end
        assert _readable(ours.fileno())
        ours.recv(1)
        theirs.close()  # the end of file
        assert _readable(ours.fileno())
