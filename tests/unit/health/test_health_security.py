"""Safe by default: whatever the checks raise, no response body, header or log line shows a
hostname, a version, a stack trace, a URL with credentials or a secret."""

from __future__ import annotations

import logging
import platform
import socket
import sys
import traceback

import httpx
import pytest

import anker
from anker.coordination import BackendUnavailable
from anker.errors import Unavailable
from anker.health import Check, Exposure, Health, HealthServer, check_engine, check_event_loop
from anker.messaging import TransportUnavailable

SECRET = "pa55-Wörd-7f3a9c"
HOST = "db-primary.corp.example"


def leaks() -> list[str]:
    """What must never appear."""
    import uvicorn

    return [
        SECRET,
        HOST,
        socket.gethostname(),
        platform.node(),
        platform.release(),  # the kernel
        f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
        anker.__version__,
        uvicorn.__version__,
        "Traceback",
        'File "',
        "postgresql://",
        "redis://",
        "@" + HOST,
    ]


def hostile_checks() -> list[Check]:
    def raising(exc: BaseException) -> Check:
        async def run() -> None:
            raise exc

        return run  # type: ignore[return-value]

    def with_traceback() -> Exception:
        try:
            raise ValueError(f"inner failure at {HOST}")
        except ValueError as exc:
            return RuntimeError("".join(traceback.format_exception(exc)))

    url = f"postgresql://admin:{SECRET}@{HOST}:5432/nova"
    errors: list[tuple[str, BaseException]] = [
        ("plain:error", RuntimeError(f"could not connect to {url}")),
        ("unavailable:error", Unavailable(url, "probe", f"refused by {HOST} ({SECRET})")),
        ("coord:error", BackendUnavailable(f"redis://:{SECRET}@{HOST}:6379", "probe", HOST)),
        ("rabbit:error", TransportUnavailable(f"rabbit://u:{SECRET}@{HOST}/", "probe", "x")),
        ("trace:error", with_traceback()),
        ("os:error", OSError(111, f"Connection refused: {HOST}")),
        ("key:error", KeyError(SECRET)),
        ("version:error", RuntimeError(f"Python {sys.version} on {platform.platform()}")),
    ]
    checks = [Check(name, raising(exc), "datastore") for name, exc in errors]  # type: ignore[arg-type]
    checks.append(check_event_loop())
    return checks


def engine_check() -> Check:
    from sqlalchemy import create_engine

    with socket.socket() as sock:  # a port nothing listens on: refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = create_engine(
        f"postgresql+psycopg://admin:{SECRET}@127.0.0.1:{port}/nova?connect_timeout=2"
    )
    return check_engine(engine, "sql")


@pytest.mark.parametrize(
    "exposure",
    [
        pytest.param(Exposure(), id="default"),
        pytest.param(Exposure.of(["ready", "live", "all", "startup"]), id="details-on"),
    ],
)
async def test_nothing_leaks_whatever_the_checks_raise(
    exposure: Exposure, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    health = Health(timeout=5, discover=False)
    for check in hostile_checks():
        health.add(check)
    health.add(engine_check())
    seen: list[str] = []
    async with (
        health,
        HealthServer(health, exposure, port=0) as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client,
    ):
        for path in ("/readyz", "/livez", "/healthz", "/startupz", "/health/ready"):
            for query in ("", "?verbose", "?exclude=plain:error"):
                for method in ("GET", "HEAD"):
                    answer = await client.request(method, path + query)
                    seen.append(f"{answer.status_code} {answer.headers} {answer.text}")
                    if path not in {"/livez", "/startupz"}:
                        assert answer.status_code == 503, (path, answer.text)
    text = "\n".join(seen)
    if exposure.details:
        assert '"unavailable:error":[{"componentType":"datastore","status":"fail"' in text
        assert "coordination backend unavailable" in text
        assert "database unavailable" in text
    else:
        assert "checks" not in text
    logs = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.exc_info or ''}" for r in caplog.records
    )
    assert "health check plain:error: fail" in logs  # the first result is logged, safely
    for leak in leaks():
        assert leak not in text, f"{leak!r} in a response"
        assert "uvicorn" not in text.lower()  # no Server header naming it
        assert leak not in logs, f"{leak!r} in a log line"


async def test_show_errors_masks_credentials_but_is_off_by_default() -> None:
    health = Health(discover=False)
    health.add(hostile_checks()[0])
    report = await health.run("ready")
    from anker.health._render import as_json

    assert SECRET not in as_json(report, details=True, show_errors=True).decode()
    assert "could not connect" in as_json(report, details=True, show_errors=True).decode()
    assert "could not connect" not in as_json(report, details=True).decode()
