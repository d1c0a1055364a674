"""anker.health's endpoints through real servers and frameworks: Starlette (ASGI), wsgiref
(WSGI) and uvicorn (the standalone endpoint)."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from anker.health import (
    Check,
    Exposure,
    Health,
    HealthMiddleware,
    HealthServer,
    HealthWSGIMiddleware,
    Result,
)


class Switch:
    """A check whose verdict the test sets."""

    def __init__(self) -> None:
        self.result = Result.passed(1.5, "ms")

    async def __call__(self) -> Result:
        return self.result


@pytest.fixture
def switch() -> Switch:
    return Switch()


def registry(switch: Switch) -> Health:
    # every request runs the checks: the test sees its changes
    health = Health(ttl=0.000001, discover=False)

    async def lag() -> Result:
        return Result.passed(0.1, "ms")

    health.add(Check("eventloop:lag", lag, "system", frozenset({"live"})))
    health.add(Check("db:responseTime", switch, "datastore", frozenset({"ready", "jobs"})))
    return health


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("the service")


def client_for(health: Health, exposure: Exposure | None = None) -> httpx.AsyncClient:
    app = HealthMiddleware(Starlette(routes=[Route("/", home)]), health, exposure)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.1.2.3", 4567)),
        base_url="http://testserver",
    )


async def test_safe_by_default_only_the_status(switch: Switch) -> None:
    async with client_for(registry(switch)) as client:
        answer = await client.get("/readyz")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/health+json"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.json() == {"status": "pass"}
        assert (await client.get("/readyz?verbose")).text == "ready check passed\n"
        switch.result = Result.failed("database unavailable")
        answer = await client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json() == {"status": "fail"}
        assert (await client.get("/livez")).status_code == 200  # no dependency in live
        assert (await client.get("/healthz")).status_code == 503
        assert (await client.get("/")).text == "the service"  # passed through


async def test_warn_answers_200(switch: Switch) -> None:
    switch.result = Result.warned("slow", 900, "ms")
    async with client_for(registry(switch)) as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "warn"}


async def test_details_follow_the_ietf_draft(switch: Switch) -> None:
    switch.result = Result.failed("database unavailable", detail="OperationalError: refused")
    exposure = Exposure.of(["ready", "all"])
    async with client_for(registry(switch), exposure) as client:
        body = (await client.get("/readyz")).json()
        assert body["status"] == "fail"
        (entry,) = body["checks"]["db:responseTime"]
        assert entry["componentType"] == "datastore"
        assert entry["status"] == "fail"
        assert entry["output"] == "database unavailable"  # not the error: show_errors is off
        assert entry["time"].endswith("Z")
        switch.result = Result.passed(1.5, "ms")
        (entry,) = (await client.get("/readyz")).json()["checks"]["db:responseTime"]
        assert (entry["observedValue"], entry["observedUnit"]) == (1.5, "ms")
        assert "output" not in entry
        assert set((await client.get("/healthz")).json()["checks"]) == {
            "eventloop:lag",
            "db:responseTime",
        }
        assert (await client.get("/livez")).json() == {"status": "pass"}  # live: no details
        excluded = (await client.get("/healthz?exclude=db:responseTime")).json()
        assert set(excluded["checks"]) == {"eventloop:lag"}


async def test_verbose_text_is_kubernetes_style(switch: Switch) -> None:
    exposure = Exposure.of(["ready"], show_errors=True)
    switch.result = Result.failed("database unavailable", detail="OperationalError: refused")
    async with client_for(registry(switch), exposure) as client:
        answer = await client.get("/readyz?verbose")
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == (
        "[-]db:responseTime failed: database unavailable: OperationalError: refused\n"
        "ready check failed\n"
    )


async def test_head_custom_groups_and_errors(switch: Switch) -> None:
    async with client_for(registry(switch)) as client:
        head = await client.head("/readyz")
        assert head.status_code == 200
        assert head.content == b""
        assert int(head.headers["content-length"]) == len(b'{"status":"pass"}')
        assert (await client.get("/health/jobs")).json() == {"status": "pass"}
        assert (await client.get("/health/ready")).status_code == 200
        assert (await client.get("/health/nothing")).status_code == 404
        assert (await client.get("/health/Bad Name")).status_code == 404
        post = await client.post("/readyz")
        assert post.status_code == 405
        assert post.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("networks", "token", "headers", "shown"),
    [
        (["10.0.0.0/8"], None, {}, True),
        (["192.168.0.0/16"], None, {}, False),
        ([], "s3cret", {}, False),
        ([], "s3cret", {"Authorization": "Bearer s3cret"}, True),
        ([], "s3cret", {"X-Health-Token": "s3cret"}, True),
        ([], "s3cret", {"X-Health-Token": "wrong"}, False),
        (["10.0.0.0/8"], "s3cret", {"X-Health-Token": "s3cret"}, True),
        (["192.168.0.0/16"], "s3cret", {"X-Health-Token": "s3cret"}, False),
    ],
)
async def test_details_only_for_listed_networks_and_the_token(
    switch: Switch, networks: list[str], token: str | None, headers: dict[str, str], shown: bool
) -> None:
    exposure = Exposure.of(["ready"], networks=networks, token=token)
    async with client_for(registry(switch), exposure) as client:
        body = (await client.get("/readyz", headers=headers)).json()
    assert ("checks" in body) is shown


def test_bad_networks_are_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300/8' is not a network"):
        Exposure.of(["ready"], networks=["10.0.0.300/8"])


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def wsgi_server(switch: Switch) -> Iterator[str]:
    health = registry(switch)
    health.start_blocking()  # the checks and their refresher on anker's loop

    def service(environ: dict[str, object], start_response: object) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
        return [b"the service"]

    app = HealthWSGIMiddleware(service, health, Exposure.of(["ready"]))
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        health.close_blocking()


def test_wsgi_middleware_on_a_real_server(wsgi_server: str, switch: Switch) -> None:
    with httpx.Client(base_url=wsgi_server) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/health+json"
        assert answer.json()["checks"]["db:responseTime"][0]["status"] == "pass"
        switch.result = Result.failed("database unavailable")
        failed = client.get("/readyz")
        assert failed.status_code == 503
        assert failed.json()["status"] == "fail"
        assert client.get("/livez").json() == {"status": "pass"}
        assert client.head("/readyz").content == b""
        assert client.get("/").text == "the service"


@pytest.fixture
async def standalone(switch: Switch) -> AsyncIterator[HealthServer]:
    async with registry(switch) as health, HealthServer(health, port=0) as server:
        yield server


async def test_standalone_endpoint_on_uvicorn(standalone: HealthServer, switch: Switch) -> None:
    base = f"http://127.0.0.1:{standalone.port}"
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.get("/readyz")
        assert answer.status_code == 200
        assert answer.json() == {"status": "pass"}
        assert "server" not in answer.headers  # no server name and version
        switch.result = Result.failed("database unavailable")
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/livez")).status_code == 200
        assert (await client.get("/elsewhere")).status_code == 404
    await standalone.aclose()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=base) as client:
            await client.get("/livez")


async def test_standalone_endpoint_reports_a_taken_port(switch: Switch) -> None:
    async with registry(switch) as health, HealthServer(health, port=0) as first:
        with pytest.raises(OSError, match="in use") as taken:
            await HealthServer(health, port=first.port).start()
        # which server, on which address: a service has several
        assert f"the health endpoint cannot listen on 127.0.0.1:{first.port}" in str(taken.value)
        assert taken.value.errno == errno.EADDRINUSE
        await asyncio.sleep(0)


def wsgi_get(app: HealthWSGIMiddleware, path: str) -> tuple[str, bytes]:
    import io
    from wsgiref.util import setup_testing_defaults

    environ: dict[str, object] = {"PATH_INFO": path, "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    statuses: list[str] = []
    body = b"".join(app(environ, lambda status, headers: statuses.append(status)))
    return statuses[0], body


def test_wsgi_starts_an_unstarted_registry_on_first_request(switch: Switch) -> None:
    health = registry(switch)
    app = HealthWSGIMiddleware(None, health)
    try:
        assert wsgi_get(app, "/readyz") == ("200 OK", b'{"status":"pass"}')
        assert health._refresher is not None  # the refresher runs on anker's loop now
        assert wsgi_get(app, "/elsewhere")[0] == "404 Not Found"
    finally:
        health.close_blocking()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_wsgi_worker_refreshes_its_own_checks(switch: Switch) -> None:
    """As under a pre-fork server (gunicorn): started in the parent, asked in the child."""
    health = registry(switch)
    health.start_blocking()
    app = HealthWSGIMiddleware(None, health)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+ warns on fork
            pid = os.fork()
        if pid == 0:
            try:
                answered = wsgi_get(app, "/readyz") == ("200 OK", b'{"status":"pass"}')
                ok = answered and health._pid == os.getpid() and health._refresher is not None
            except BaseException:
                ok = False
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        health.close_blocking()
