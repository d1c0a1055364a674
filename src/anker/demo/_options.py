"""The demo cloud's configuration: where each part keeps its state, and the cloud's sizes."""

# No ``from __future__ import annotations``: anker.config reads the annotations as objects.
from datetime import timedelta

from anker import BackendURL, Secret
from anker.config import Config, Group, option
from anker.messaging import MessagingOptions
from anker.service import ServiceOptions


class Backends(Group):
    """Where the demo cloud keeps its state: embedded defaults or real servers."""

    coordination_url: BackendURL = option(help="Locks (one per host) and discovery.")
    quota_url: BackendURL = option(help="The limits store (quota claims).")
    workflow_url: BackendURL = option(help="The workflow store (create and delete runs).")
    inventory_url: BackendURL = option(help="The cloud's own database (its servers).")
    cloud_id: str = option(
        "demo", help="Tells this cloud's rows and events apart on a shared server."
    )


class Api(Group):
    """The HTTP API."""

    host: str = option("127.0.0.1", help="Address the API listens on.")
    port: int = option(0, min=0, max=65535, help="Its port (0: any free one).")
    admin_token: Secret[str] = option(
        help="Token of the admin endpoints and of the detailed health answer."
        " Give it as a ${secret:NAME} reference."
    )


class Scheduler(Group):
    """The scheduler workers and the hosts they place servers on."""

    hosts: dict[str, int] = option(
        {"host-1": 8, "host-2": 8}, help="Each host with its number of cores."
    )
    instances: int = option(2, min=1, max=8, help="Scheduler workers (RPC servers).")
    boot_time: timedelta = option(
        "0.3s", min="0s", mutable=True, help="How long a simulated boot takes."
    )


class Limits(Group):
    """The project of the demo's servers."""

    project: str = option(
        "demo",
        help="The project servers are created in; its limits live in the quota store"
        " (anker quota set).",
    )


class CloudConfig(Config):
    """Everything the demo cloud reads from its configuration file."""

    service: ServiceOptions
    messaging: MessagingOptions
    backends: Backends
    api: Api
    scheduler: Scheduler
    limits: Limits
