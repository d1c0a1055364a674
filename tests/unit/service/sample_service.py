"""A small service that the process tests run with ``anker run sample_service:make``.

Driven by environment variables: ``SAMPLE_CONF`` (a config file), ``SAMPLE_INTERVAL``
(seconds between runs of its periodic task), ``SAMPLE_WORK`` (seconds each run takes),
``SAMPLE_IMMEDIATELY`` (run once at start), ``SAMPLE_FAIL_START`` (a component that fails to
start), ``SAMPLE_FAIL_IF`` (the same, if that file exists when the service is made),
``SAMPLE_PORT`` (the health endpoint's port; default any free one). It prints what happens to
stdout, one line per event, flushed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from anker.config import Config, Group, option
from anker.health import Health, HealthServer
from anker.service import Service, ServiceOptions

log = logging.getLogger("sample")


class AppOptions(Group):
    greeting: str = option("hello", mutable=True, help="Said by each run.")
    port: int = option(8000, help="Immutable: a change waits for a restart.")


class SampleConfig(Config):
    service: ServiceOptions
    app: AppOptions


def say(line: str) -> None:
    print(line, flush=True)


class Reporter:
    """Says when the service has started every component before it (and its ports)."""

    name = "reporter"

    def __init__(self, endpoint: HealthServer) -> None:
        self.endpoint = endpoint

    async def start(self) -> None:
        say(f"HEALTH {self.endpoint.port}")

    async def drain(self, deadline: float) -> None:
        say("DRAINING")

    def in_flight(self) -> list[str]:
        return []

    async def stop(self) -> None:
        say("STOPPED")


class Blocking:
    """A component whose drain blocks the event loop (the bug the watchdog is for)."""

    name = "blocking"

    async def start(self) -> None:
        return None

    async def drain(self, deadline: float) -> None:
        say("BLOCKING")
        time.sleep(600)  # noqa: ASYNC251 - the bug this component stands for

    def in_flight(self) -> list[str]:
        return ["a blocking call"]

    async def stop(self) -> None:
        return None


class Broken:
    name = "broken"

    async def start(self) -> None:
        raise RuntimeError("cannot start")

    async def drain(self, deadline: float) -> None:
        return None

    def in_flight(self) -> list[str]:
        return []

    async def stop(self) -> None:
        return None


def make() -> Service:
    files = [os.environ["SAMPLE_CONF"]] if os.environ.get("SAMPLE_CONF") else []
    conf = SampleConfig.load(files=files)
    health = Health(interval=0.2)
    service = Service("sample", config=conf, health=health)
    endpoint = HealthServer(health, port=int(os.environ.get("SAMPLE_PORT", "0")))
    say(f"APP PORT {conf.app.port}")
    service.add(health)
    service.add(endpoint)
    runs = 0
    work = float(os.environ.get("SAMPLE_WORK", "0"))

    @service.periodic(
        interval=float(os.environ.get("SAMPLE_INTERVAL", "3600")),
        immediately=bool(os.environ.get("SAMPLE_IMMEDIATELY")),
    )
    async def job() -> None:
        nonlocal runs
        runs += 1
        number = runs
        say(f"RUN START {number}")
        await asyncio.sleep(work)
        log.debug("a debug line from run %d", number)
        say(f"RUN END {number} {conf.app.greeting}")

    if os.environ.get("SAMPLE_BLOCKING_DRAIN"):
        service.add(Blocking())
    fail_if = os.environ.get("SAMPLE_FAIL_IF")
    if os.environ.get("SAMPLE_FAIL_START") or (fail_if and os.path.exists(fail_if)):
        service.add(Broken())
    service.add(Reporter(endpoint))
    return service


async def make_leader() -> Service:
    """A fleet member: its periodic task runs only while it leads (``SAMPLE_LEADER_URL``)."""
    from anker.coordination import Coordinator

    coordinator = await Coordinator.connect(
        os.environ["SAMPLE_LEADER_URL"], member_id=os.environ["SAMPLE_MEMBER"], lease=3.0
    )
    service = Service("fleet-member")
    service.add(coordinator)  # added first: closed last, its leadership released
    runs = 0

    @service.periodic(interval=0.1, leader=coordinator, name="sweep")
    async def sweep() -> None:
        nonlocal runs
        runs += 1
        say(f"LEADER RUN {runs}")

    return service


def make_broken() -> Service:
    """A factory that fails: its configuration file says a port is not a number."""
    raise ValueError("[app] port: 'x' is not an integer")


def make_nothing() -> object:
    """A factory that returns something other than a service."""
    return 42
