"""The ``[service]`` option group: drain deadline and logging."""

# No ``from __future__ import annotations``: anker.config reads the annotations as objects.
from datetime import timedelta

from anker.config import Group, option

__all__ = ["ServiceOptions"]


class ServiceOptions(Group):
    """The runtime's options. Declare it on a service's :class:`~anker.config.Config`
    (``service: ServiceOptions``) and give the config to :class:`~anker.service.Service`:
    it reads the drain deadline when a drain starts, and applies ``log_level`` at start and
    on every reload (SIGHUP).

    .. versionadded:: 0.1
    """

    drain_deadline: timedelta = option(
        "30s",
        min="0s",
        mutable=True,
        help="How long a graceful stop (SIGTERM, SIGINT) lets in-flight work finish before it"
        " is abandoned (and the exit code says so).",
    )
    log_level: str = option(
        "INFO",
        mutable=True,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="Level of the root logger; a reload (SIGHUP) changes it in place.",
    )
    log_format: str = option(
        "text",
        choices=["text", "json"],
        help="Log lines as readable text (humans) or one JSON object per line (machines).",
    )
