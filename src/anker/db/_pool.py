"""The engine's connection pool: a checkout that replaces a connection the server closed while
it sat in the pool (without a round trip to the server), and a clear :class:`DBPoolTimeout`
when no connection comes free in time.

A server that ends a session (``pg_terminate_backend``, MariaDB's ``KILL``, ``wait_timeout``,
``idle_session_timeout``, a restart) closes its socket, often after a last error message. On a
connection idle in the pool nothing else arrives unasked, so a socket that is readable at
checkout (an end of file, an error, a reset) belongs to a session that is over: one ``poll``
with a zero timeout tells it, where ``pool_pre_ping`` sends a statement and waits for the
answer. go-sql-driver/mysql checks its idle connections the same way before reusing them.

The check is made once per connection, on its first checkout, and kept in the pool entry's
``info`` (which SQLAlchemy clears whenever the entry's connection is replaced): a ``poll``
object with the socket registered, so that a checkout costs one call and one system call.

What this cannot see: a peer that vanished without closing (a network partition, a host that
lost power) and a connection killed between the checkout and its first statement. Those fail
on the statement with a :class:`DBConnectionError`, which :func:`anker.db.retrying` retries.

Imported by :mod:`anker.db._engine` after SQLAlchemy (never by ``import anker.db``).
"""

from __future__ import annotations

import functools
import logging
import select
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import exc
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

from anker.db._errors import DBPoolTimeout

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["closed_check", "configure_pool", "pool_class"]

#: A connection's check: true (a non-empty list of events, or True) once the server closed it.
Check = Callable[[], object]
#: the key of a pool entry's check in its ``info``
_CHECK = "anker.db.closed"

# SQLAlchemy logs its pools' lifecycle ("Pool disposed", "Pool recreating") at INFO on a
# logger named after the pool's class, and keeps its own loggers at WARNING unless asked;
# ours are named after this module: keep them as quiet (a service logging at INFO saw these).
if logging.getLogger(__name__).level == logging.NOTSET:
    logging.getLogger(__name__).setLevel(logging.WARNING)


class _Translating(QueuePool):
    """A queue pool that replaces a connection the server closed before handing it out, and
    whose checkout timeout is a :class:`DBPoolTimeout` naming the pool's sizes (SQLAlchemy's
    ``TimeoutError`` is not a driver error, so the engine's ``handle_error`` never sees it).

    The check runs where the pool takes a connection from its queue (before SQLAlchemy's
    ``checkout`` event and its reconnect loop): a failed reconnect there is handled as any
    failed connect of the pool. It costs one ``poll`` system call a checkout, on a ``poll``
    object made at the connection's first checkout."""

    #: the database's URL as errors show it (credentials masked), set by the engine
    anker_url = "database"
    #: whether to check connections at checkout (not SQLite's: no server closes them)
    anker_check = False
    #: the queue pool's own ``_do_get`` (each subclass names its base's)
    _queue_get: ClassVar[Callable[[QueuePool], ConnectionPoolEntry]]

    def _do_get(self) -> ConnectionPoolEntry:
        try:
            record = self._queue_get()
        except exc.TimeoutError as error:
            raise self._timed_out() from error
        if self.anker_check and record.dbapi_connection is not None:
            try:
                closed = record.info[_CHECK]
            except KeyError:  # the connection's first checkout
                closed = record.info[_CHECK] = closed_check(record.driver_connection)
            if closed():
                record.invalidate(_CLOSED)  # closed now: the checkout connects anew
        return record

    def _timed_out(self) -> DBPoolTimeout:
        timeout = float(self._timeout)
        reason = (
            f"no connection of the pool came free within pool_timeout={timeout:g}s: all"
            f" pool_size={self.size()} + max_overflow={self._max_overflow} are in use"
            " (a bigger pool, connections held for shorter, or one left open?)"
        )
        return DBPoolTimeout(
            self.anker_url,
            "checkout",
            reason,
            pool_size=self.size(),
            max_overflow=self._max_overflow,
            pool_timeout=timeout,
        )

    def recreate(self) -> QueuePool:
        fresh = super().recreate()
        assert isinstance(fresh, _Translating)
        # dispose() makes a new pool: it keeps what the engine set
        fresh.anker_url, fresh.anker_check = self.anker_url, self.anker_check
        return fresh


_CLOSED = exc.DisconnectionError("the server closed the connection while it was pooled")


# Each pool's base ``_do_get``, named outright: ``super()`` would make an object at every
# checkout, where this costs nothing beyond the call itself.


class _TranslatingQueuePool(_Translating):
    _queue_get = QueuePool._do_get


class _TranslatingAsyncQueuePool(_Translating, AsyncAdaptedQueuePool):
    _queue_get = AsyncAdaptedQueuePool._do_get


def pool_class(*, asynchronous: bool) -> type[QueuePool]:
    """The pool class of an engine (sync or async)."""
    return _TranslatingAsyncQueuePool if asynchronous else _TranslatingQueuePool


def configure_pool(engine: Engine, url: str, *, check: bool) -> None:
    """Tell ``engine``'s pool the URL its errors show, and whether to check connections."""
    pool = engine.pool
    assert isinstance(pool, _Translating)
    pool.anker_url, pool.anker_check = url, check


def closed_check(connection: Any) -> Check:
    """The check of the driver's ``connection`` (psycopg, PyMySQL, aiomysql): whether it is
    closed, or its socket has something to read although no statement runs (the server's end
    of file, or its last words before it). Never true for a driver this does not know (SQLite
    has no server).

    psycopg's and PyMySQL's sockets are read only while a statement runs (psycopg's async
    connections register theirs with the event loop only then), so their check is a ``poll``
    of the socket with the descriptor registered once: nothing closes that socket while the
    connection sits in the pool, and once the driver closes it (after an error, which also
    makes the pool replace the connection) a ``poll`` reports the descriptor as invalid."""
    if getattr(connection, "pgconn", None) is not None:
        return _psycopg_check(connection)
    if hasattr(connection, "_sock"):  # PyMySQL: _sock is None once closed
        sock = connection._sock
        return _closed if sock is None else _socket_check(sock.fileno())
    if hasattr(connection, "_writer"):
        return functools.partial(_aiomysql_closed, connection)
    return _open


def _closed() -> bool:
    return True


def _open() -> bool:
    return False


def _psycopg_check(connection: Any) -> Check:
    """psycopg's, sync and async."""
    if connection.closed or connection.broken:
        return _closed
    try:
        fd = connection.pgconn.socket
    except Exception:  # psycopg.OperationalError: "the connection is lost"
        return _closed
    return _socket_check(fd)


def _aiomysql_closed(connection: Any) -> bool:
    """aiomysql's, looked at anew each time: its transport reads for it while idle and closes
    the socket at the server's end of file (a registered descriptor could then be another
    socket's), but a socket at end of file stays readable until then."""
    writer = connection._writer
    if writer is None or writer.transport.is_closing():
        return True
    sock = writer.get_extra_info("socket")
    return sock is not None and _readable(sock.fileno())


def _socket_check(fd: int) -> Check:
    """A check of socket ``fd``: a ``poll`` with a zero timeout (POLLHUP, POLLERR and POLLNVAL
    are always reported)."""
    if fd < 0:
        return _closed
    if not hasattr(select, "poll"):  # pragma: no cover (Windows)
        return functools.partial(_readable, fd)
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return functools.partial(poller.poll, 0)


def _readable(fd: int) -> bool:
    readable, _, broken = select.select([fd], [], [fd], 0)
    return bool(readable or broken)
