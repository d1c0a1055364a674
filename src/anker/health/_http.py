"""The endpoints, independent of the server: a path and query in, status, headers and body out.

``/livez``, ``/readyz``, ``/startupz``, ``/healthz`` (every check) and ``/health/<group>``;
GET and HEAD; ``?verbose`` for Kubernetes-style text, ``?exclude=<check>`` (repeated or
comma-separated) to leave checks out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from anker.health._check import check_group
from anker.health._exposure import Exposure
from anker.health._registry import Health, Report
from anker.health._render import HEALTH_JSON, TEXT, as_json, as_text, status_code

__all__ = ["PATHS", "Answer", "Request", "answer", "answer_from_cache", "group_of"]

#: the fixed endpoints and the group each serves (None: every check)
PATHS: dict[str, str | None] = {
    "/livez": "live",
    "/readyz": "ready",
    "/startupz": "startup",
    "/healthz": None,
}
_PREFIX = "/health/"
_NO_STORE = ("cache-control", "no-store")


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP response: status code, headers (lower-case names), body (empty for HEAD)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def group_of(path: str) -> tuple[bool, str | None]:
    """Whether ``path`` is a health endpoint, and the group it serves (None: every check)."""
    if path in PATHS:
        return True, PATHS[path]
    if path.startswith(_PREFIX):
        name = path[len(_PREFIX) :]
        try:
            return True, check_group(name)
        except ValueError:
            return True, "\0"  # a health path, but no group: 404
    return False, None


def _plain(status: int, text: str, head: bool) -> Answer:
    body = text.encode()
    headers = (("content-type", TEXT), ("content-length", str(len(body))), _NO_STORE)
    return Answer(status, headers, b"" if head else body)


@dataclass(frozen=True, slots=True)
class Request:
    """A request for a health endpoint: ``headers`` with lower-case names, ``client`` the
    peer's address."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    client: str | None


def _refusal(health: Health, request: Request) -> Answer | None:
    """The answer to a request that runs no check (bad method, unknown group), or None."""
    head = request.method == "HEAD"
    if request.method not in ("GET", "HEAD"):
        refused = _plain(405, "method not allowed\n", head)
        return Answer(405, (*refused.headers, ("allow", "GET, HEAD")), refused.body)
    _, group = group_of(request.path)
    if group == "\0" or (group is not None and group not in health.groups()):
        return _plain(404, "no such health group\n", head)
    return None


def _params(request: Request) -> tuple[str | None, set[str], bool]:
    """The group, the checks to exclude, and whether ``?verbose`` was asked."""
    params = parse_qs(request.query, keep_blank_values=True)
    exclude = {name for value in params.get("exclude", ()) for name in value.split(",") if name}
    return group_of(request.path)[1], exclude, "verbose" in params


async def answer(health: Health, exposure: Exposure, request: Request) -> Answer:
    """The response to a request for a health endpoint (``request.path`` must be one: see
    :func:`group_of`)."""
    refused = _refusal(health, request)
    if refused is not None:
        return refused
    group, exclude, verbose = _params(request)
    report = await health.run(group, exclude=exclude)
    return _render(report, exposure, request, verbose)


def answer_from_cache(health: Health, exposure: Exposure, request: Request) -> Answer | None:
    """The response from the cache alone, when every result it needs is fresh (None if not):
    threads answer it without waiting for the event loop."""
    refused = _refusal(health, request)
    if refused is not None:
        return refused
    group, exclude, verbose = _params(request)
    report = health.cached(group, exclude=exclude)
    return None if report is None else _render(report, exposure, request, verbose)


def _render(report: Report, exposure: Exposure, request: Request, verbose: bool) -> Answer:
    head = request.method == "HEAD"
    details = exposure.shows_details(report.group, request.client, request.headers)
    errors = details and exposure.show_errors
    if verbose:
        body, kind = as_text(report, details=details, show_errors=errors), TEXT
    else:
        body, kind = as_json(report, details=details, show_errors=errors), HEALTH_JSON
    response_headers = (("content-type", kind), ("content-length", str(len(body))), _NO_STORE)
    return Answer(status_code(report), response_headers, b"" if head else body)
