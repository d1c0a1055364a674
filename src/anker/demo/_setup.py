"""Setting up a demo cloud: what an operator does once before starting a service.

A master key and a secret store holding the admin token, the configuration file (which names
the token by a ``${secret:...}`` reference, never by value), the stores' migrations run on
purpose, the cloud's table, and the quota of its project.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Backends", "Setup", "prepare"]

#: the admin token's name in the secret store
TOKEN_NAME = "demo-admin-token"


@dataclass(frozen=True)
class Backends:
    """Where the cloud keeps its state. ``embedded()``: files and SQLite under one directory,
    messages in memory; ``real()``: RabbitMQ, etcd, Redis and PostgreSQL."""

    transport_url: str
    coordination_url: str
    quota_url: str
    workflow_url: str
    inventory_url: str
    kind: str = "embedded"

    @classmethod
    def embedded(cls, directory: Path) -> Backends:
        """Files and SQLite databases under ``directory``; messages in memory."""
        return cls(
            transport_url="memory://demo",
            coordination_url=f"file://{directory / 'locks'}",
            quota_url=f"sqlite:///{directory / 'quota.db'}?lease=300",
            workflow_url=f"sqlite:///{directory / 'workflows.db'}",
            inventory_url=f"sqlite:///{directory / 'inventory.db'}",
        )

    @classmethod
    def real(
        cls,
        *,
        rabbit: str = "rabbit://guest:guest@127.0.0.1:5672/",
        etcd: str = "etcd://127.0.0.1:2379",
        redis: str = "redis://127.0.0.1:6379/0",
        postgres: str = "postgresql://postgres@127.0.0.1:5432/postgres",
    ) -> Backends:
        """RabbitMQ, etcd, Redis and PostgreSQL at these URLs (``scripts/services``'s)."""
        join = "&" if "?" in redis else "?"
        return cls(
            transport_url=rabbit,
            coordination_url=etcd,
            quota_url=f"{redis}{join}prefix=anker:demo:&lease=300",
            workflow_url=postgres,
            inventory_url=postgres,
            kind="real",
        )


@dataclass(frozen=True)
class Setup:
    """A prepared demo cloud: its directory, configuration file and secret store."""

    directory: Path
    config_path: Path
    secrets_url: str
    backends: Backends
    cloud_id: str
    admin_token: str = field(repr=False)

    def environment(self) -> dict[str, str]:
        """What the cloud's process needs in its environment."""
        from anker.demo._cloud import CONFIG_ENV, SECRETS_ENV

        return {CONFIG_ENV: str(self.config_path), SECRETS_ENV: self.secrets_url}


def config_text(backends: Backends, cloud_id: str, *, log_level: str = "INFO") -> str:
    """The cloud's configuration file."""
    return f"""\
# The demo cloud's configuration (anker run anker.demo:cloud reads it; SIGHUP re-reads it).
[service]
log_level = {log_level}
drain_deadline = 10s

[messaging]
transport_url = {backends.transport_url}
notification_topics = {cloud_id}-notifications

[backends]
cloud_id = {cloud_id}
coordination_url = {backends.coordination_url}
quota_url = {backends.quota_url}
workflow_url = {backends.workflow_url}
inventory_url = {backends.inventory_url}

[api]
port = 0
# never the token itself: a reference the key manager resolves at load (and reload)
admin_token = ${{secret:{TOKEN_NAME}}}

[scheduler]
hosts = host-1:8, host-2:8
instances = 2
boot_time = 0.3s

[limits]
project = demo
"""


def _write_files(directory: Path, backends: Backends, cloud_id: str) -> tuple[str, Path]:
    """The directory, a master key (``anker secrets init FILE``) and the configuration file;
    the secret store's URL and the file's path."""
    from anker.secrets._master import generate_master_key_file

    directory.mkdir(parents=True, exist_ok=True)
    if backends.kind == "embedded":
        (directory / "locks").mkdir(exist_ok=True)
    master = directory / "master.key"
    generate_master_key_file(str(master))
    config_path = directory / "cloud.conf"
    config_path.write_text(config_text(backends, cloud_id))
    return f"local://{directory / 'secrets'}?master_key_file={master}", config_path


#: the cloud id on real servers: one name, so that a run starts by clearing what the run
#: before it left (its servers, its quota usage) instead of leaving more each time
REAL_CLOUD_ID = "anker-demo"


async def prepare(directory: Path, backends: Backends | None = None) -> Setup:
    """Set a demo cloud up in ``directory`` (made if missing) on ``backends`` (default:
    embedded); run its migrations and give its project a quota. On real servers, what an
    earlier demo left there is cleared first: run one demo at a time per set of servers."""
    from anker.db import create_async_engine
    from anker.demo._inventory import Inventory
    from anker.limits import Quota
    from anker.secrets import KeyManager
    from anker.workflow import Engine

    backends = backends or Backends.embedded(directory)
    cloud_id = REAL_CLOUD_ID if backends.kind == "real" else f"demo-{secrets.token_hex(3)}"
    token = secrets.token_urlsafe(16)
    secrets_url, config_path = await asyncio.to_thread(_write_files, directory, backends, cloud_id)
    # anker secrets --store URL init, then the token in it (a passphrase)
    async with await KeyManager.initialize(secrets_url) as keys:
        await keys.store("passphrase", token, name=TOKEN_NAME)

    # anker quota upgrade, anker workflow upgrade: migrations run on purpose, never at start
    async with await Quota.open(backends.quota_url, upgrade=True) as quota:
        await quota.set_default("instances", -1)
        await quota.set_default("cores", -1)
        await quota.set_project("demo")
        await quota.set_limit("demo", "instances", 3)
        await quota.set_limit("demo", "cores", 12)
        for claim in await quota.claims("demo"):  # an earlier demo's
            await quota.release(claim.id)
        await quota.recount(lambda project, resources: {}, projects=["demo"], repair=True)
    engine = await Engine.open(backends.workflow_url, [], upgrade=True, recover=False)
    await engine.aclose()
    inventory = Inventory(create_async_engine(backends.inventory_url), cloud_id)
    try:
        await inventory.create_tables()
        await inventory.forget_all()
    finally:
        await inventory.aclose()
    return Setup(directory, config_path, secrets_url, backends, cloud_id, token)
