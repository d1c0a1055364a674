"""The HTTP servers of the health benchmark, each run in a process of its own.

``python -m bench.suites._health_servers anker|starlette PORT`` serves on uvicorn with uvloop
and httptools in one process; the WSGI apps (``oslo_app``, ``trivial_wsgi``) are served by
gunicorn with 2 sync workers, as the issue measured oslo.middleware.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


def oslo_app() -> Any:
    """oslo.middleware's healthcheck as an app (no backends: its default reply)."""
    from oslo_middleware.healthcheck import Healthcheck

    return Healthcheck.app_factory(None)


def anker_wsgi() -> Any:
    """anker.health's WSGI middleware alone (each worker starts its registry on first use)."""
    from anker.health import Health, HealthWSGIMiddleware

    health = Health()
    for check in _checks():
        health.add(check)
    return HealthWSGIMiddleware(None, health)


def _checks() -> list[Any]:
    from anker.health import Check, Result, check_event_loop

    async def dependency() -> Result:
        await asyncio.sleep(0.001)  # a round trip to a dependency, cached by the registry
        return Result.passed(1.0, "ms")

    return [check_event_loop(), Check("database:responseTime", dependency, "datastore")]


def trivial_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The floor of a WSGI reply on the same server."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"OK"]


async def serve_anker(port: int) -> None:
    from anker.health import Health, HealthServer

    health = Health()
    for check in _checks():
        health.add(check)
    async with health, HealthServer(health, port=port):
        await asyncio.Event().wait()


async def serve_starlette(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def ok(request: Any) -> PlainTextResponse:
        return PlainTextResponse("OK")

    app = Starlette(routes=[Route("/", ok)])
    config = uvicorn.Config(app, port=port, access_log=False, log_level="warning", lifespan="off")
    await uvicorn.Server(config).serve()


def main() -> None:
    import uvloop

    kind, port = sys.argv[1], int(sys.argv[2])
    serve = {"anker": serve_anker, "starlette": serve_starlette}[kind]
    uvloop.run(serve(port))


if __name__ == "__main__":
    main()
