"""anker.health: dependency-aware health checks, safe by default.

A :class:`Health` registry holds :class:`Check` s by group (``live``, ``ready``,
``startup``, custom), runs them concurrently with timeouts, caches the results and refreshes
them in the background; the endpoints (``/livez``, ``/readyz``, ``/startupz``, ``/healthz``,
``/health/<group>``) answer ``application/health+json`` from that cache, 200 for pass/warn and
503 for fail, showing only the overall status unless an :class:`Exposure` says otherwise::

    health = Health()
    health.add(check_event_loop())
    health.add(check_coordinator(coordinator))
    async with health:
        app = HealthMiddleware(service_app, health)

Served by :class:`HealthMiddleware` / :class:`HealthApp` (ASGI),
:class:`HealthWSGIMiddleware` (WSGI), or :class:`HealthServer` (uvicorn on its own port).
See ``docs/health.md``.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker.health._asgi import HealthApp, HealthMiddleware
from anker.health._builtin import (
    check_coordinator,
    check_disk,
    check_driver,
    check_engine,
    check_event_loop,
    check_for,
    check_key_manager,
    check_quota,
    check_transport,
    check_workflow_engine,
)
from anker.health._check import GROUPS, Check, CheckFunction, ComponentType, Result, Status
from anker.health._exposure import Exposure
from anker.health._options import HealthOptions
from anker.health._registry import Health, Outcome, Report
from anker.health._server import HealthServer
from anker.health._wsgi import HealthWSGIMiddleware

__all__ = [
    "GROUPS",
    "Check",
    "CheckFunction",
    "ComponentType",
    "Exposure",
    "Health",
    "HealthApp",
    "HealthMiddleware",
    "HealthOptions",
    "HealthServer",
    "HealthWSGIMiddleware",
    "Outcome",
    "Report",
    "Result",
    "Status",
    "check_coordinator",
    "check_disk",
    "check_driver",
    "check_engine",
    "check_event_loop",
    "check_for",
    "check_key_manager",
    "check_quota",
    "check_transport",
    "check_workflow_engine",
]

show_public_paths(__name__, globals(), __all__)
