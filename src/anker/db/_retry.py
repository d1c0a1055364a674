"""``retrying``: run a unit of work again after a deadlock or a lost connection (never after a
:class:`DBAccessDenied`: wrong credentials stay wrong).

A unit of work is a function that opens its own transaction (``with engine.begin()``,
``with Session.begin()``): a deadlock or a dropped connection rolled all of it back, so running
it again from the start is safe. Inside a transaction its caller holds it is not: there the
error is raised at once, for the caller's own unit of work to retry.

Two series of delays: a failure to connect (refused, the server starting up) is retried after
at most :data:`RECONNECT_CAP`, so a unit of work waiting out a restart returns soon after the
server takes connections again; deadlocks and statements that lost their connection back off
up to the backoff's cap, as contention calls for.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar, overload

from anker._drivers import Backoff
from anker.db._errors import DBConnectionError, DBDeadlock

__all__ = ["retrying"]

P = ParamSpec("P")
R = TypeVar("R")

#: the errors a unit of work is run again for
RETRIED = (DBDeadlock, DBConnectionError)
#: the longest delay before connecting again: a refused connection costs client and server next
#: to nothing, and the cap is how late after a restart the unit of work can return
RECONNECT_CAP = 0.1
#: set while a retrying unit of work runs: one nested in it leaves retrying to it
_RUNNING: contextvars.ContextVar[bool] = contextvars.ContextVar("anker.db.retrying", default=False)


@overload
def retrying(function: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def retrying(
    *, max_retries: int = 5, backoff: Backoff | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def retrying(
    function: Callable[P, R] | None = None,
    /,
    *,
    max_retries: int = 5,
    backoff: Backoff | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a unit of work (sync or async) to run it again, up to ``max_retries`` times,
    after a :class:`DBDeadlock` or a transient :class:`DBConnectionError` (not after a
    :class:`DBAccessDenied`: wrong credentials, a missing database), with ``backoff``'s
    jittered delays in between (default: the first at most 20 ms, doubling up to 1 s, 30 s in
    all; a failure to connect waits at most 100 ms, or ``backoff``'s cap if lower). Failures
    to connect do not count against ``max_retries``, which bounds the attempts that reached
    the database: nothing was sent, and a restart is waited out until the backoff's deadline.

    It does not retry when it runs inside another retrying unit of work (the outer one
    retries the whole), nor when an argument is a connection or session already in a
    transaction (its caller's transaction, which the error has spoilt): then the first error
    is raised as it is.
    """
    if max_retries < 0:
        raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
    template = backoff or Backoff(first=0.02, cap=1.0, deadline=30.0)

    def decorate(work: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(work):
            return _async_wrapper(work, max_retries, template)  # type: ignore[return-value]
        return _sync_wrapper(work, max_retries, template)

    return decorate if function is None else decorate(function)


class _Delays:
    """The delays of one call: one series for failures to connect, one for the rest, both
    ending at the template's deadline."""

    def __init__(self, template: Backoff) -> None:
        self.other = Backoff(first=template.first, cap=template.cap, deadline=template.deadline)
        cap = min(template.cap, RECONNECT_CAP)
        first = min(template.first, cap)
        self.connect = Backoff(first=first, cap=cap, deadline=template.deadline)

    def after(self, error: Exception) -> Backoff:
        return self.connect if _connecting(error) else self.other


def within(seconds: float, work: Callable[P, R]) -> Callable[P, R]:
    """``work`` retried as :func:`retrying` does, but for ``seconds`` in all: for callers that
    give up after a timeout of their own (a store's call), so that the work stops when they
    do, and the error they see is the last real one (a refused connection), not "no answer"."""
    return retrying(backoff=Backoff(first=0.02, cap=1.0, deadline=seconds))(work)


def _connecting(error: Exception) -> bool:
    """Whether the attempt failed before it reached the database."""
    return isinstance(error, DBConnectionError) and error.operation == "connect"


def _spent(error: Exception, retries: int, max_retries: int) -> bool:
    """Whether ``error`` ends the unit of work: permanent, or the last retry it may count."""
    if not _transient(error):
        return True
    return not _connecting(error) and retries >= max_retries


def _transient(error: Exception) -> bool:
    """Whether trying again may help: not for a :class:`DBAccessDenied`."""
    return not isinstance(error, DBConnectionError) or error.transient


def _in_transaction(values: Iterable[Any]) -> bool:
    """Whether one of ``values`` is a connection or session in a transaction (its caller's)."""
    return any(value.__class__ not in _PLAIN and _transaction_of(value) for value in values)


def _transaction_of(value: object) -> bool:
    """Whether ``value`` is a connection or session in a transaction."""
    in_transaction = getattr(value, "in_transaction", None)
    return in_transaction is not None and callable(in_transaction) and in_transaction() is True


#: argument types that are never a connection or session (no attributes of their own): most
#: arguments of a unit of work, which the check then skips without a call
_PLAIN = frozenset({int, str, bytes, float, bool, type(None)})


# The happy path of a unit of work is kept to what it needs, for every call pays it: the
# wrapper's own call, the look at its arguments (no call for plain values), and the nesting
# flag's set and reset; ``token.old_value`` tells whether an outer unit of work set the flag
# (no ``get``). The retry loop's state costs nothing until the first failure.


def _sync_wrapper(work: Callable[P, R], max_retries: int, template: Backoff) -> Callable[P, R]:
    @functools.wraps(work)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for value in args:  # in the caller's transaction: its own unit of work retries
            if value.__class__ not in _PLAIN and _transaction_of(value):
                return work(*args, **kwargs)
        if kwargs and _in_transaction(kwargs.values()):
            return work(*args, **kwargs)
        token = _RUNNING.set(True)
        try:
            if token.old_value is True:  # nested: the outer unit of work retries the whole
                return work(*args, **kwargs)
            retries = 0
            delays: _Delays | None = None  # made on the first failure: most calls never fail
            while True:
                try:
                    return work(*args, **kwargs)
                except RETRIED as error:
                    delays = delays or _Delays(template)
                    backoff = delays.after(error)
                    if _spent(error, retries, max_retries) or backoff.expired:
                        raise
                    retries += not _connecting(error)
                    time.sleep(backoff.next_delay())
        finally:
            _RUNNING.reset(token)

    return run


def _async_wrapper(
    work: Callable[P, Awaitable[R]], max_retries: int, template: Backoff
) -> Callable[P, Awaitable[R]]:
    @functools.wraps(work)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for value in args:
            if value.__class__ not in _PLAIN and _transaction_of(value):
                return await work(*args, **kwargs)
        if kwargs and _in_transaction(kwargs.values()):
            return await work(*args, **kwargs)
        token = _RUNNING.set(True)
        try:
            if token.old_value is True:
                return await work(*args, **kwargs)
            retries = 0
            delays: _Delays | None = None  # made on the first failure: most calls never fail
            while True:
                try:
                    return await work(*args, **kwargs)
                except RETRIED as error:
                    if _spent(error, retries, max_retries):
                        raise
                    retries += not _connecting(error)
                    delays = delays or _Delays(template)
                    if not await delays.after(error).sleep():
                        raise
        finally:
            _RUNNING.reset(token)

    return run
