"""anker.service: the runtime that ties a service's parts together.

A :class:`Service` is made of components (RPC servers, notification listeners, periodic
tasks, ASGI apps, the health endpoint), started in dependency order and stopped in reverse;
SIGHUP reloads the configuration in place, SIGTERM and SIGINT drain gracefully within a
deadline::

    from anker.service import Service, run

    def make() -> Service:
        service = Service("janitor")

        @service.periodic(interval=60, jitter=5)
        async def clean_up() -> None: ...

        return service

    run(make)            # or, from a shell: anker run mymodule:make

See ``docs/service.md`` for signals, exit codes, readiness, logging and metrics.

.. versionadded:: 0.1
"""

from anker._exports import show_public_paths
from anker.service._component import ASGIServer, Component, Managed, as_component
from anker.service._discovery import Instance, Registration, discover
from anker.service._logging import JSONFormatter, TextFormatter, configure_logging, log_context
from anker.service._metrics import Metrics
from anker.service._notify import notify
from anker.service._options import ServiceOptions
from anker.service._periodic import PeriodicTask, TaskFunction
from anker.service._service import ExitCode, Service, State, run

__all__ = [
    "ASGIServer",
    "Component",
    "ExitCode",
    "Instance",
    "JSONFormatter",
    "Managed",
    "Metrics",
    "PeriodicTask",
    "Registration",
    "Service",
    "ServiceOptions",
    "State",
    "TaskFunction",
    "TextFormatter",
    "as_component",
    "configure_logging",
    "discover",
    "log_context",
    "notify",
    "run",
]

show_public_paths(__name__, globals(), __all__)
