"""The ``[health]`` option group: what the endpoints show, to whom, and how often checks run."""

# No ``from __future__ import annotations``: anker.config reads the annotations as objects.
from datetime import timedelta
from pathlib import Path

from anker._secret import Secret
from anker.config import Group, option

__all__ = ["HealthOptions"]


class HealthOptions(Group):
    """Health endpoints' options. Safe by default: only the overall status is shown.

    Declare it on a service's :class:`~anker.config.Config` (``health: HealthOptions``),
    then build the registry and the exposure from it: ``Health.from_options(conf.health)`` and
    ``Exposure.from_options(conf.health)``.
    """

    details: list[str] = option(
        [],
        help="Groups whose responses list each check (names, values, outputs): live, ready,"
        " startup, all (/healthz) or a custom group. Others answer with the overall status"
        " only.",
    )
    details_networks: list[str] = option(
        [],
        help="Show details only to clients in these networks (CIDR, e.g. 10.0.0.0/8,"
        " ::1/128); empty: any client that may see them otherwise.",
    )
    details_token: Secret[str] | None = option(
        None,
        help="Show details only to requests carrying this token (Authorization: Bearer"
        " <token> or X-Health-Token: <token>).",
    )
    show_errors: bool = option(
        False,
        advanced=True,
        help="Show each failing check's error (credentials masked, but hostnames and"
        " addresses left in) with the details. For debugging only.",
    )
    maintenance_file: Path | None = option(
        None,
        help="While this file exists, every group but live fails with the file's first line"
        " as the reason (the instance leaves the load balancer; the platform does not"
        " restart it).",
    )
    check_timeout: timedelta = option(
        "1s", min="1ms", help="How long one check may run before it counts as failed."
    )
    interval: timedelta = option(
        "1s", min="10ms", help="How often the checks run in the background."
    )
