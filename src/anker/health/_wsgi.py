"""The endpoints for threaded WSGI services (Flask, oslo's paste pipelines).

The checks are coroutines and run on the event loop the registry was started on (a
service's own loop, or anker's background loop through :func:`anker._runtime.run_blocking`);
a WSGI worker thread hands each request to that loop and waits, as every ``Blocking*``
wrapper does. Results come from the cache, so the wait is short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

from anker.health._exposure import Exposure
from anker.health._http import Request, answer, answer_from_cache, group_of
from anker.health._registry import Health

__all__ = ["HealthWSGIMiddleware"]

WSGIApp: TypeAlias = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthWSGIMiddleware:
    """WSGI middleware answering the health endpoints and passing everything else to
    ``app`` (``None``: 404 for everything else, a health-only WSGI app)::

        app.wsgi_app = HealthWSGIMiddleware(app.wsgi_app, health)

    The registry runs where it was started; if it is not started in this process (never, or
    before a pre-fork server forked this worker), the first request starts it on anker's
    background loop, so each worker refreshes its own checks.

    .. versionadded:: 0.1
    """

    def __init__(
        self, app: WSGIApp | None, health: Health, exposure: Exposure | None = None
    ) -> None:
        self.app = app
        self.health = health
        self.exposure = exposure or Exposure()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if not group_of(path)[0]:
            if self.app is not None:
                return self.app(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        request = Request(
            environ.get("REQUEST_METHOD", "GET"),
            path,
            environ.get("QUERY_STRING", ""),
            headers,
            environ.get("REMOTE_ADDR"),
        )
        portal = self.health.portal()  # started in this process (refreshing) from here on
        reply = answer_from_cache(self.health, self.exposure, request)
        if reply is None:  # something is stale: run it on the registry's loop
            # the checks' own timeout bounds the run; this bounds a loop that does not answer
            coroutine = answer(self.health, self.exposure, request)
            reply = portal.run(coroutine, timeout=self.health.timeout + 5.0)
        status = f"{reply.status} {_REASONS.get(reply.status, '')}".rstrip()
        start_response(status, [(_title(n), v) for n, v in reply.headers])
        return [reply.body]


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))
