"""The demo cloud's HTTP API (Starlette): servers, hosts, quota, events, and admin calls."""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from anker.limits import OverQuota
from anker.messaging import MessagingError, RequestContext

if TYPE_CHECKING:
    from anker.demo._cloud import Cloud

__all__ = ["EventLog", "build_app", "parse_create"]

#: the most events the API keeps for GET /v1/events
EVENTS_KEPT = 1000
#: the largest request body the API reads
BODY_LIMIT = 64 * 1024


class EventLog:
    """A notification listener's endpoint keeping this cloud's last events, numbered."""

    def __init__(self, cloud_id: str) -> None:
        self.cloud_id = cloud_id
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        self.count = 0

    async def info(
        self,
        context: Any,
        publisher_id: str,
        event_type: str,
        payload: Any,
        metadata: Any,
    ) -> None:
        if not isinstance(payload, dict) or payload.get("cloud") != self.cloud_id:
            return  # another demo cloud's event on a shared broker
        self.count += 1
        self.events.append(
            {"seq": self.count, "time": time.time(), "event": event_type, "payload": payload}
        )

    def after(self, seq: int) -> list[dict[str, Any]]:
        return [event for event in self.events if event["seq"] > seq]


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def parse_create(body: object) -> tuple[str, int, float | None] | str:
    """A create request's name, cores and boot time, or what is wrong with it."""
    if not isinstance(body, dict):
        return 'the body must be a JSON object: {"name": ..., "cores": ...}'
    unknown = sorted(set(body) - {"name", "cores", "boot_seconds"})
    if unknown:
        return (
            f"unknown field(s) {', '.join(map(repr, unknown))} (known: name, cores, boot_seconds)"
        )
    name, cores, boot = body.get("name"), body.get("cores", 1), body.get("boot_seconds")
    if not isinstance(name, str) or not 0 < len(name) <= 255 or not name.isprintable():
        return "'name' must be a string of 1 to 255 printable characters"
    if not isinstance(cores, int) or isinstance(cores, bool) or not 0 < cores <= 64:
        return "'cores' must be an integer from 1 to 64"
    if boot is not None and (
        not isinstance(boot, int | float) or isinstance(boot, bool) or not 0 <= boot <= 60
    ):
        return "'boot_seconds' must be a number from 0 to 60"
    return name, cores, None if boot is None else float(boot)


def build_app(cloud: Cloud) -> Starlette:
    """The API of ``cloud``, health endpoints and metrics around it are added by the cloud."""

    async def list_servers(request: Request) -> JSONResponse:
        return JSONResponse([server.as_json() for server in await cloud.inventory.list()])

    async def create_server(request: Request) -> JSONResponse:
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > BODY_LIMIT:
                return _error(413, f"the body is over {BODY_LIMIT} bytes")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "the body is not JSON")
        asked = parse_create(body)
        if isinstance(asked, str):
            return _error(400, asked)
        name, cores, boot_seconds = asked
        server_id = uuid.uuid4().hex[:12]
        try:
            claim = await cloud.quota.claim(
                cloud.project, {"instances": 1, "cores": cores}, note=f"server {server_id}"
            )
        except OverQuota as refused:
            return _error(
                403,
                str(refused),
                resource=refused.resource,
                requested=refused.requested,
                used=refused.used,
                limit=refused.limit,
                project=refused.binding,
            )
        await cloud.inventory.add(server_id, name, cores, claim.id)
        run = await cloud.engine.start(
            cloud.create,
            {
                "server_id": server_id,
                "cores": cores,
                "claim": claim.id,
                "boot_seconds": boot_seconds,
            },
        )
        await cloud.inventory.update(server_id, run=run)
        return JSONResponse({"id": server_id, "run": run}, status_code=202)

    async def show_server(request: Request) -> JSONResponse:
        server = await cloud.inventory.get(request.path_params["server_id"])
        if server is None:
            return _error(404, f"no server {request.path_params['server_id']}")
        answer = server.as_json()
        if server.run is not None:
            run = await cloud.engine.get(server.run)
            answer["workflow"] = {
                "state": str(run.state),
                "tasks": {
                    name: {"state": str(task.state), "attempts": task.attempts}
                    for name, task in run.tasks.items()
                },
            }
        return JSONResponse(answer)

    async def delete_server(request: Request) -> JSONResponse:
        server = await cloud.inventory.get(request.path_params["server_id"])
        if server is None or server.state == "DELETED":
            return _error(404, f"no server {request.path_params['server_id']}")
        if server.state not in ("ACTIVE", "ERROR"):
            return _error(409, f"server {server.id} is {server.state}: wait until it is ACTIVE")
        run = await cloud.engine.start(cloud.delete, {"server_id": server.id})
        await cloud.inventory.update(server.id, run=run, state="DELETING")
        return JSONResponse({"id": server.id, "run": run}, status_code=202)

    async def hosts(request: Request) -> JSONResponse:
        try:
            answer = await cloud.scheduler.call(RequestContext(), "list_hosts")
        except MessagingError as failed:
            return _error(503, f"the scheduler did not answer: {failed}")
        return JSONResponse(answer)

    async def quota(request: Request) -> JSONResponse:
        usage = await cloud.quota.usage(cloud.project)
        return JSONResponse(
            {
                entry.resource: {
                    "used": entry.used,
                    "reserved": entry.reserved,
                    "limit": entry.limit,
                }
                for entry in usage
            }
        )

    async def events(request: Request) -> JSONResponse:
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return _error(400, "'after' must be an integer")
        return JSONResponse(cloud.events.after(after))

    async def info(request: Request) -> JSONResponse:
        return JSONResponse(cloud.info())

    async def rolling_restart(request: Request) -> JSONResponse:
        given = request.headers.get("x-admin-token", "")
        if not hmac.compare_digest(given.encode(), cloud.admin_token.encode()):
            return _error(401, "this needs the admin token (header X-Admin-Token)")
        return JSONResponse(await cloud.schedulers.rolling_restart())

    async def metrics(request: Request) -> Response:
        # a route, not a Mount of the metrics app: a Mount answers /metrics with a redirect
        # to /metrics/, and the `curl -s .../metrics` anker demo --serve prints shows nothing
        return Response(
            cloud.service.metrics.exposition(),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    return Starlette(
        routes=[
            Route("/v1/servers", list_servers, methods=["GET"]),
            Route("/v1/servers", create_server, methods=["POST"]),
            Route("/v1/servers/{server_id}", show_server, methods=["GET"]),
            Route("/v1/servers/{server_id}", delete_server, methods=["DELETE"]),
            Route("/v1/hosts", hosts, methods=["GET"]),
            Route("/v1/quota", quota, methods=["GET"]),
            Route("/v1/events", events, methods=["GET"]),
            Route("/v1/info", info, methods=["GET"]),
            Route("/v1/admin/rolling-restart", rolling_restart, methods=["POST"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
