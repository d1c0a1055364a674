"""The demo cloud as one anker service: ``anker run anker.demo:cloud``.

Its parts, each opened from the configuration file named by ``ANKER_DEMO_CONFIG`` (whose
``${secret:...}`` references resolve through the key manager at ``ANKER_DEMO_SECRETS``):
the HTTP API with health endpoints and metrics, scheduler workers behind RPC, a workflow
engine for creates and deletes, a quota store, a coordinator for the hosts' locks and for
discovery, and a notification listener keeping the cloud's events for ``GET /v1/events``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anker.demo._options import CloudConfig

if TYPE_CHECKING:
    from anker.coordination import Coordinator
    from anker.demo._api import EventLog
    from anker.demo._inventory import Inventory
    from anker.demo._scheduler import SchedulerPool
    from anker.limits import Quota
    from anker.messaging import RPCClient, Transports
    from anker.service import Service
    from anker.workflow import Engine, Workflow

__all__ = ["CONFIG_ENV", "SECRETS_ENV", "Cloud", "cloud", "load_config"]

log = logging.getLogger("anker.demo")

#: the environment variables naming the configuration file and the key manager's store
CONFIG_ENV = "ANKER_DEMO_CONFIG"
SECRETS_ENV = "ANKER_DEMO_SECRETS"


def load_config(path: str | Path, secrets_url: str) -> CloudConfig:
    """Read the cloud's configuration; ``${secret:NAME}`` from the store at ``secrets_url``
    (opened on anker's background loop, so that a reload can read it from any thread)."""
    from anker.secrets import BlockingKeyManager

    keys = BlockingKeyManager.open(secrets_url)
    return CloudConfig.load(files=[str(path)], secrets=keys.manager.resolver())


class Cloud:
    """The opened parts of one demo cloud, for the API and the workflows."""

    def __init__(self, conf: CloudConfig, conf_path: Path) -> None:
        self.conf = conf
        self.conf_path = conf_path
        self.project = conf.limits.project
        self.admin_token = conf.api.admin_token.reveal()
        self.service: Service
        self.transports: Transports
        self.coordinator: Coordinator
        self.quota: Quota
        self.engine: Engine
        self.inventory: Inventory
        self.scheduler: RPCClient
        self.schedulers: SchedulerPool
        self.events: EventLog
        self.create: Workflow
        self.delete: Workflow
        self.api_url = ""

    def info(self) -> dict[str, Any]:
        """What ``GET /v1/info`` shows: the live values of the options a reload changes."""
        return {
            "cloud": self.conf.backends.cloud_id,
            "pid": os.getpid(),
            "log_level": logging.getLevelName(logging.getLogger().level),
            "boot_time": self.conf.scheduler.boot_time.total_seconds(),
            "schedulers": self.schedulers.workers,
            "api": self.api_url,
        }


class Announce:
    """Writes ``cloud.json`` (the API's address and the process id) beside the configuration
    once every component before it has started: how ``anker demo`` knows the cloud is up."""

    name = "announce"

    def __init__(self, cloud: Cloud, api: Any) -> None:
        self.cloud = cloud
        self.api = api
        self.path = cloud.conf_path.with_name("cloud.json")

    async def start(self) -> None:
        self.cloud.api_url = f"http://{self.api.host}:{self.api.port}"
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"api": self.cloud.api_url, "pid": os.getpid()}))
        temporary.replace(self.path)

    async def drain(self, deadline: float) -> None:
        self.path.unlink(missing_ok=True)

    def in_flight(self) -> list[str]:
        return []

    async def stop(self) -> None:
        return None


async def cloud() -> Service:
    """Open every part of the demo cloud and return its service (``anker run`` runs it)."""
    from anker.coordination import Coordinator
    from anker.db import create_async_engine
    from anker.demo._api import EventLog, build_app
    from anker.demo._flows import Parts, workflows
    from anker.demo._inventory import Inventory
    from anker.demo._scheduler import API, SchedulerPool
    from anker.health import Exposure, Health, HealthMiddleware
    from anker.limits import Quota
    from anker.messaging import NotificationListener, Notifier, RPCClient, Target, open_transports
    from anker.service import ASGIServer, Managed, Service
    from anker.workflow import Engine

    conf_path = Path(os.environ[CONFIG_ENV])
    conf = await asyncio.to_thread(load_config, conf_path, os.environ[SECRETS_ENV])
    parts = Cloud(conf, conf_path)
    backends = conf.backends
    cloud_id = backends.cloud_id
    health = Health(interval=2)
    service = Service("demo-cloud", config=conf, health=health)
    parts.service = service

    parts.transports = await open_transports(conf.messaging)
    service.add(Managed(parts.transports, name="transports"))
    parts.coordinator = await Coordinator.connect(
        backends.coordination_url, member_id=f"{cloud_id}-api-{os.getpid()}"
    )
    service.add(Managed(parts.coordinator, name="coordinator"))
    parts.quota = await Quota.open(backends.quota_url)
    service.add(Managed(parts.quota, name="quota"))
    parts.inventory = Inventory(create_async_engine(backends.inventory_url), cloud_id)
    service.add(Managed(parts.inventory, name="inventory"))

    rpc = parts.transports.rpc
    topic = f"{cloud_id}-scheduler"
    parts.scheduler = RPCClient(rpc, Target(topic=topic, namespace=API.namespace, version="1.0"))
    parts.schedulers = SchedulerPool(
        rpc, topic, parts.inventory, dict(conf.scheduler.hosts), conf.scheduler.instances
    )
    service.add(parts.schedulers)
    notifier = Notifier(
        parts.transports.notifications,
        f"demo.{cloud_id}",
        topics=conf.messaging.notification_topics,
        # on a broker, the topic's own queue (``<topic>.info``) has no consumer here:
        # its copies expire instead of piling up run after run
        ttl=300,
    )
    parts.events = EventLog(cloud_id)
    service.add(
        NotificationListener(
            parts.transports.notifications,
            [Target(topic=conf.messaging.notification_topics[0])],
            [parts.events],
            pool=f"{cloud_id}-events",
        )
    )

    def boot_time() -> float:
        return conf.scheduler.boot_time.total_seconds()

    tasks = Parts(
        inventory=parts.inventory,
        scheduler=parts.scheduler,
        coordinator=parts.coordinator,
        quota=parts.quota,
        notifier=notifier,
        hosts=dict(conf.scheduler.hosts),
        boot_time=boot_time,
    )
    parts.create, parts.delete = workflows(tasks)
    # a stable engine id: after a crash the restarted cloud takes its runs back at once
    parts.engine = await Engine.open(
        backends.workflow_url,
        [parts.create, parts.delete],
        engine_id=f"{cloud_id}-engine",
        lease=5,
        poll=0.5,
    )
    service.add(Managed(parts.engine, name="workflow-engine"), after=["scheduler"])

    exposure = Exposure.of(["all", "ready"], token=parts.admin_token)
    app = HealthMiddleware(build_app(parts), health, exposure)
    api = ASGIServer(app, host=conf.api.host, port=conf.api.port, name="api")
    service.add(api, after=["workflow-engine"])
    service.add(Announce(parts, api), after=["api"])
    return service
