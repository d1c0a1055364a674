"""The scheduler: RPC servers that pick a host for a server, and the pool that runs them
and replaces them one at a time (a rolling restart) without failing a call."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from anker.messaging import RequestContext, RPCServer, Target

if TYPE_CHECKING:
    from anker.demo._inventory import Inventory
    from anker.messaging import Transport

__all__ = ["NoValidHost", "SchedulerAPI", "SchedulerPool"]

log = logging.getLogger("anker.demo.scheduler")

#: the RPC namespace and version of the scheduler's API
API = Target(namespace="scheduler", version="1.0")


class NoValidHost(Exception):
    """No host has room for the server (a remote error on the caller's side)."""


class SchedulerAPI:
    """The RPC endpoint of one scheduler worker (``name``)."""

    target = API

    def __init__(self, name: str, inventory: Inventory, hosts: dict[str, int]) -> None:
        self.name = name
        self.inventory = inventory
        self.hosts = hosts

    async def select_host(self, context: RequestContext, cores: int) -> dict[str, Any]:
        """The host with the most free cores that fits ``cores``."""
        used = await self.inventory.cores_used()
        free = {host: size - used.get(host, 0) for host, size in self.hosts.items()}
        log.debug("%s weighed hosts for %d core(s): free %s", self.name, cores, free)
        fitting = [host for host, room in free.items() if room >= cores]
        if not fitting:
            raise NoValidHost(f"no host has {cores} free core(s) (free: {free})")
        host = max(fitting, key=lambda name: (free[name], name))
        return {"host": host, "scheduler": self.name}

    async def list_hosts(self, context: RequestContext) -> dict[str, Any]:
        """Every host with its cores and those allocated, and which worker answered."""
        used = await self.inventory.cores_used()
        hosts = [
            {"host": host, "cores": size, "used": used.get(host, 0)}
            for host, size in sorted(self.hosts.items())
        ]
        return {"scheduler": self.name, "hosts": hosts}


class SchedulerPool:
    """``instances`` scheduler workers on the topic ``topic``, as one component.

    :meth:`rolling_restart` replaces them one at a time: the new worker starts consuming
    first, then the old one drains (no new deliveries, the calls it is handling finish,
    unstarted ones go back to the queue for the others), so no call fails.
    """

    def __init__(
        self,
        transport: Transport,
        topic: str,
        inventory: Inventory,
        hosts: dict[str, int],
        instances: int,
    ) -> None:
        self.name = "scheduler"
        self.transport = transport
        self.topic = topic
        self.inventory = inventory
        self.hosts = hosts
        self.instances = instances
        self.generation = 0
        self._made = 0
        self._servers: list[RPCServer] = []
        self._restarting = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<SchedulerPool {self.topic} workers={self.workers}>"

    @property
    def workers(self) -> list[str]:
        """The names of the workers consuming now."""
        return [server.target.server or "" for server in self._servers]

    async def _new_worker(self) -> RPCServer:
        self._made += 1
        name = f"scheduler-{self._made}"
        server = RPCServer(
            self.transport,
            Target(topic=self.topic, server=name),
            [SchedulerAPI(name, self.inventory, self.hosts)],
        )
        await server.start()
        return server

    async def start(self) -> None:
        for _ in range(self.instances):
            self._servers.append(await self._new_worker())

    async def rolling_restart(self, drain: float = 10.0) -> dict[str, Any]:
        """Replace every worker, one at a time; what was replaced by what."""
        async with self._restarting:
            steps = []
            for index, old in enumerate(list(self._servers)):
                new = await self._new_worker()
                self._servers[index] = new
                await old.stop(drain)
                steps.append({"stopped": old.target.server, "started": new.target.server})
                log.info("scheduler: %s replaced %s", new.target.server, old.target.server)
            self.generation += 1
            return {"replaced": steps, "workers": self.workers}

    async def drain(self, deadline: float) -> None:
        servers, self._servers = self._servers, []
        await asyncio.gather(*(server.stop(deadline) for server in servers))

    def in_flight(self) -> list[str]:
        return []

    async def stop(self) -> None:
        await self.drain(0)
