"""The error boundary between a driver and its client library.

A client library's exception never escapes a driver as it is: it becomes the subsystem's
:class:`~anker.errors.Unavailable` subclass, raised ``from`` the original (so the traceback
keeps it), with a message naming the backend (its URL masked), the operation, and what went
wrong, every credential masked by :func:`anker._url.mask_secrets`. anker's own errors pass
through unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from anker._url import mask_secrets
from anker.errors import AnkerError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from anker._secret import Secret
    from anker._url import BackendURL
    from anker.errors import Unavailable

__all__ = ["boundary", "describe_error", "failure"]


def describe_error(exc: BaseException, *secrets: BackendURL | Secret[str] | str | None) -> str:
    """``Type: message`` of a client error, with every credential of ``secrets`` masked."""
    text = str(exc)
    return mask_secrets(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, *secrets)


def failure(
    error: type[Unavailable],
    url: BackendURL,
    operation: str,
    exc: BaseException,
    *,
    timeout: float | None = None,
    secrets: tuple[Secret[str] | str, ...] = (),
) -> Unavailable:
    """The ``error`` to raise ``from exc`` for a client error (or timeout) during ``operation``."""
    if isinstance(exc, TimeoutError) and timeout is not None:
        reason = f"no answer within {timeout:g} s"
    else:
        reason = describe_error(exc, url, *secrets)
    return error(url=str(url), operation=operation, reason=reason)


@contextlib.asynccontextmanager
async def boundary(
    error: type[Unavailable],
    url: BackendURL,
    operation: str,
    *,
    timeout: float | None = None,
    secrets: tuple[Secret[str] | str, ...] = (),
) -> AsyncIterator[None]:
    """Run the block within ``timeout`` seconds; a client error or the timeout becomes
    ``error`` (see :func:`failure`); anker's own errors and cancellation pass through."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except AnkerError:
        raise
    except Exception as exc:
        raise failure(error, url, operation, exc, timeout=timeout, secrets=secrets) from exc
