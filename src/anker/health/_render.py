"""Reports as HTTP bodies: application/health+json (the IETF draft) and Kubernetes-style text."""

from __future__ import annotations

from typing import Any

import orjson

from anker.health._check import Status
from anker.health._registry import Outcome, Report

__all__ = ["HEALTH_JSON", "TEXT", "as_json", "as_text", "status_code"]

HEALTH_JSON = "application/health+json"
TEXT = "text/plain; charset=utf-8"


def status_code(report: Report) -> int:
    """200 for ``pass`` and ``warn``, 503 for ``fail``."""
    return 503 if report.status is Status.FAIL else 200


def as_json(report: Report, *, details: bool, show_errors: bool = False) -> bytes:
    """The health+json body: ``{"status": ...}``, and the ``checks`` if ``details``."""
    body: dict[str, Any] = {"status": str(report.status)}
    if details:
        checks: dict[str, list[dict[str, Any]]] = {}
        for outcome in report.outcomes:
            checks.setdefault(outcome.name, []).append(_entry(outcome, show_errors))
        body["checks"] = checks
    return orjson.dumps(body)


def _entry(outcome: Outcome, show_errors: bool) -> dict[str, Any]:
    result = outcome.result
    entry: dict[str, Any] = {
        "componentType": outcome.component_type,
        "status": str(result.status),
        "time": outcome.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if result.observed_value is not None:
        entry["observedValue"] = result.observed_value
    if result.observed_unit:
        entry["observedUnit"] = result.observed_unit
    output = result.output
    if show_errors and result.detail:
        output = f"{output}: {result.detail}" if output else result.detail
    if output:
        entry["output"] = output
    return entry


def as_text(report: Report, *, details: bool, show_errors: bool = False) -> bytes:
    """Kubernetes' ``?verbose`` text: ``[+]name ok`` / ``[-]name failed: ...`` lines, then
    ``<group> check passed`` (or ``failed``); only that last line without ``details``."""
    lines = []
    if details:
        for outcome in report.outcomes:
            result = outcome.result
            if result.status is Status.FAIL:
                reason = result.output
                if show_errors and result.detail:
                    reason = f"{reason}: {result.detail}" if reason else result.detail
                lines.append(f"[-]{outcome.name} failed: {reason or 'reason withheld'}")
            elif result.status is Status.WARN:
                lines.append(f"[+]{outcome.name} ok (warn: {result.output})")
            else:
                lines.append(f"[+]{outcome.name} ok")
    verdict = "failed" if report.status is Status.FAIL else "passed"
    lines.append(f"{report.group} check {verdict}")
    return ("\n".join(lines) + "\n").encode()
