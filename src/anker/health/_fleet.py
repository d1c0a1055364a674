"""Many services' health at once, failures grouped by the dependency they share: "18 services
lost ``rabbit:responseTime`` at the same moment" reads as one line pointing at RabbitMQ."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from anker._url import mask_urls

__all__ = ["Fleet", "Observation", "observe", "summarize"]


@dataclass(frozen=True, slots=True)
class Observation:
    """What one endpoint answered: its overall status (``unreachable`` if it did not answer),
    and the checks that did not pass, by name, with their outputs (when it shows details)."""

    url: str
    status: str
    failing: dict[str, str] = field(default_factory=dict)
    warning: dict[str, str] = field(default_factory=dict)
    error: str = ""
    details: bool = False


@dataclass(frozen=True, slots=True)
class Fleet:
    """Observations grouped: each failing check with the endpoints it fails on (most first)."""

    observations: tuple[Observation, ...]
    by_check: dict[str, list[str]]
    warnings: dict[str, list[str]]
    unreachable: list[Observation]
    failing_without_details: list[str]
    passing: list[str]

    @property
    def healthy(self) -> bool:
        return not (self.by_check or self.unreachable or self.failing_without_details)

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "failing": [
                {"check": name, "services": urls, "count": len(urls)}
                for name, urls in self.by_check.items()
            ],
            "warning": [
                {"check": name, "services": urls, "count": len(urls)}
                for name, urls in self.warnings.items()
            ],
            "unreachable": [{"service": o.url, "error": o.error} for o in self.unreachable],
            "failing_without_details": self.failing_without_details,
            "passing": self.passing,
        }


async def observe(
    urls: Sequence[str], *, token: str | None = None, timeout: float = 5.0
) -> list[Observation]:
    """GET every endpoint at once (within ``timeout`` seconds each)."""
    from anker._drivers import require

    httpx = require("httpx", extra="health", needed_for="anker health fleet")
    headers = {"X-Health-Token": token} if token else {}
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as client:
        return list(await asyncio.gather(*(_observe(client, url) for url in urls)))


async def _observe(client: Any, url: str) -> Observation:
    shown = mask_urls(url)  # the URL is printed: its password or token is not
    try:
        answer = await client.get(url)
    except Exception as exc:  # any failure to get an answer is "unreachable"
        return Observation(shown, "unreachable", error=mask_urls(f"{type(exc).__name__}: {exc}"))
    try:
        body = answer.json()
    except ValueError:  # it answered, but not JSON (a 404 page, a proxy's error page)
        body = None
    if not isinstance(body, dict) or body.get("status") not in ("pass", "warn", "fail"):
        return Observation(
            shown, "unreachable", error=f"not a health response (HTTP {answer.status_code})"
        )
    failing: dict[str, str] = {}
    warning: dict[str, str] = {}
    checks = body.get("checks")
    if isinstance(checks, dict):
        for name, entries in checks.items():
            for entry in entries if isinstance(entries, list) else ():
                status = entry.get("status") if isinstance(entry, dict) else None
                target = {"fail": failing, "warn": warning}.get(str(status))
                if target is not None:
                    target[name] = str(entry.get("output", ""))
    return Observation(shown, body["status"], failing, warning, details=isinstance(checks, dict))


def summarize(observations: Iterable[Observation]) -> Fleet:
    """Group the failing checks of every observation by name, most widespread first."""
    seen = tuple(observations)
    by_check: dict[str, list[str]] = {}
    warnings: dict[str, list[str]] = {}
    for observation in seen:
        for name in observation.failing:
            by_check.setdefault(name, []).append(observation.url)
        for name in observation.warning:
            warnings.setdefault(name, []).append(observation.url)

    def widest(groups: dict[str, list[str]]) -> dict[str, list[str]]:
        return dict(sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])))

    return Fleet(
        seen,
        widest(by_check),
        widest(warnings),
        [o for o in seen if o.status == "unreachable"],
        [o.url for o in seen if o.status == "fail" and not o.failing],
        [o.url for o in seen if o.status in ("pass", "warn")],
    )
