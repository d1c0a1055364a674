"""``probe`` and ``probe_async``: is this database answering? One ``SELECT 1`` on a pooled
connection, bounded by a timeout, for a health check to call every few seconds.

A pooled connection the server killed while it sat idle fails its first statement; the engine
then drops it (and the older ones), so the probe tries once more on a fresh connection before
it reports the database down: a healthy database is never reported down because of a stale
connection, and no ping is paid on the way.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

from anker._drivers import describe_error
from anker.db._engine import url_of
from anker.db._errors import DBConnectionError, DBError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["probe", "probe_async"]

#: the statement every database answers at once
_SELECT_ONE = "SELECT 1"


def probe(engine: Engine, *, timeout: float = 5.0) -> float:
    """Run ``SELECT 1`` on ``engine`` and return how long it took (seconds, with the
    checkout, and the connect if the pool had no connection).

    Raises :class:`~anker.db.DBConnectionError` (an :class:`~anker.errors.Unavailable`,
    credentials masked) when the database refuses, fails or does not answer within
    ``timeout`` seconds. The statement runs in a short-lived thread so that ``timeout``
    holds whatever the driver does; after a timeout that thread ends at the engine's own
    timeouts (``connect_timeout``, ``statement_timeout``) and gives its connection back.
    """
    _check(timeout)
    began = time.perf_counter()
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def run() -> None:
        try:
            _select_one(engine, deadline=began + timeout)
            outcome.append(None)
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="anker.db.probe", daemon=True).start()
    if not done.wait(timeout):
        raise _no_answer(engine, timeout)
    failed = outcome[0]
    if isinstance(failed, DBConnectionError) or not isinstance(failed, Exception | None):
        raise failed
    if failed is not None:
        raise _unavailable(engine, failed) from failed
    return time.perf_counter() - began


async def probe_async(engine: AsyncEngine, *, timeout: float = 5.0) -> float:
    """As :func:`probe`, on an :class:`~sqlalchemy.ext.asyncio.AsyncEngine`; the statement
    is cancelled at the timeout (SQLAlchemy drops a connection cancelled mid-statement)."""
    _check(timeout)
    from sqlalchemy import text

    began = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            for attempt in (1, 2):
                try:
                    async with engine.connect() as connection:
                        await connection.execute(text(_SELECT_ONE))
                    break
                except DBConnectionError as error:
                    if not _try_again(error, attempt):
                        raise
    except TimeoutError:
        raise _no_answer(engine.sync_engine, timeout) from None
    except DBConnectionError:
        raise
    except Exception as exc:
        raise _unavailable(engine.sync_engine, exc) from exc
    return time.perf_counter() - began


def _check(timeout: float) -> None:
    if not timeout > 0:
        raise ValueError(f"the probe's timeout must be more than 0 seconds, got {timeout}")


def _select_one(engine: Engine, *, deadline: float) -> None:
    from sqlalchemy import text

    for attempt in (1, 2):
        try:
            with engine.connect() as connection:
                connection.execute(text(_SELECT_ONE))
            return
        except DBConnectionError as error:
            if not _try_again(error, attempt) or time.perf_counter() >= deadline:
                raise


def _try_again(error: DBConnectionError, attempt: int) -> bool:
    """Once, after a pooled connection was found dead (the engine has dropped it): not
    after a failure to connect, which a second try would only repeat."""
    return attempt == 1 and error.transient and error.operation == "execute"


def _unavailable(engine: Engine, exc: Exception) -> DBConnectionError:
    """Another error than a :class:`DBConnectionError` as one: a statement's (a plain
    :class:`DBError`), a driver's on an engine anker did not make, the pool's own timeout."""
    if isinstance(exc, DBError):
        return DBConnectionError(exc.url, "probe", exc.reason)
    url = url_of(engine)
    return DBConnectionError(_shown(engine), "probe", describe_error(exc, url, engine.url.password))


def _no_answer(engine: Engine, timeout: float) -> DBConnectionError:
    return DBConnectionError(
        _shown(engine), "probe", f"no answer to {_SELECT_ONE} within {timeout:g} s"
    )


def _shown(engine: Engine) -> str:
    """The engine's URL, credentials masked: anker's, or else SQLAlchemy's."""
    url = url_of(engine)
    return str(url) if url is not None else engine.url.render_as_string(hide_password=True)
