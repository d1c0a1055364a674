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
from anker.health._registry import Health
from anker.health._render import HEALTH_JSON, TEXT, as_json, as_text, status_code

__all__ = ["PATHS", "Answer", "answer", "group_of"]

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


async def answer(
    health: Health,
    exposure: Exposure,
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    client: str | None,
) -> Answer:
    """The response to a request for a health endpoint (``path`` must be one: see
    :func:`group_of`). ``headers`` have lower-case names; ``client`` is the peer's address."""
    _, group = group_of(path)
    head = method == "HEAD"
    if method not in ("GET", "HEAD"):
        answer_ = _plain(405, "method not allowed\n", head)
        return Answer(405, (*answer_.headers, ("allow", "GET, HEAD")), answer_.body)
    if group == "\0" or (group is not None and group not in health.groups()):
        return _plain(404, "no such health group\n", head)
    params = parse_qs(query, keep_blank_values=True)
    exclude = {name for value in params.get("exclude", ()) for name in value.split(",") if name}
    report = await health.run(group, exclude=exclude)
    details = exposure.shows_details(report.group, client, headers)
    errors = details and exposure.show_errors
    if "verbose" in params:
        body, kind = as_text(report, details=details, show_errors=errors), TEXT
    else:
        body, kind = as_json(report, details=details, show_errors=errors), HEALTH_JSON
    response_headers = (("content-type", kind), ("content-length", str(len(body))), _NO_STORE)
    return Answer(status_code(report), response_headers, b"" if head else body)
