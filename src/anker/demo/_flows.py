"""The demo cloud's two workflows: create a server and delete it.

Create: the API has claimed quota and stored the server BUILDING; then ``schedule`` asks a
scheduler worker for a host (an RPC call), ``allocate`` takes the host's cores under the
host's lock, ``boot`` waits for the simulated boot, ``finish`` commits the quota claim and
tells listeners (a notification). A task that fails for good reverts the ones before it,
newest first: the cores are given back and the quota claim released. Delete runs those same
undo steps. Every step is idempotent: after a crash the step in flight runs again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anker.messaging import RequestContext
from anker.workflow import Retry, Task, TaskContext, Workflow, sequence

if TYPE_CHECKING:
    from anker.coordination import Coordinator
    from anker.demo._inventory import Inventory
    from anker.limits import Quota
    from anker.messaging import Notifier, RPCClient

__all__ = ["NoRoom", "Parts", "workflows"]


class NoRoom(Exception):
    """The chosen host filled up since the scheduler weighed it."""


@dataclass
class Parts:
    """What the tasks work with (opened by the cloud service)."""

    inventory: Inventory
    scheduler: RPCClient
    coordinator: Coordinator
    quota: Quota
    notifier: Notifier
    hosts: dict[str, int]
    boot_time: Any  # a callable giving the current [scheduler] boot_time in seconds


def workflows(parts: Parts) -> tuple[Workflow, Workflow]:
    """The create-server and delete-server workflows, working on ``parts``."""

    async def schedule(ctx: TaskContext, server_id: str, cores: int) -> str:
        answer = await parts.scheduler.call(RequestContext(), "select_host", cores=cores)
        return str(answer["host"])

    async def allocate(ctx: TaskContext, server_id: str, cores: int, host: str) -> str:
        async with parts.coordinator.lock(f"host-{host}", timeout=10):
            server = await parts.inventory.get(server_id)
            if server is not None and server.host == host:
                return host  # done before a crash: nothing to do again
            used = (await parts.inventory.cores_used()).get(host, 0)
            if used + cores > parts.hosts.get(host, 0):
                raise NoRoom(f"{host} has {parts.hosts.get(host, 0) - used} free core(s)")
            await parts.inventory.update(server_id, host=host, state="ALLOCATED")
        return host

    async def deallocate(ctx: TaskContext, result: Any, server_id: str, **_: Any) -> None:
        await parts.inventory.update(server_id, host=None)

    async def boot(ctx: TaskContext, server_id: str, boot_seconds: float | None) -> str:
        await asyncio.sleep(parts.boot_time() if boot_seconds is None else boot_seconds)
        await parts.inventory.update(server_id, state="ACTIVE")
        return "ACTIVE"

    async def finish(ctx: TaskContext, server_id: str, claim: str, host: str) -> None:
        await parts.quota.commit(claim)
        await _tell(parts, "server.create.end", server_id, host=host)

    async def give_back_quota(ctx: TaskContext, result: Any, server_id: str, **_: Any) -> None:
        await _release(parts, server_id)

    async def hold_quota(ctx: TaskContext, server_id: str, claim: str) -> str:
        return claim  # claimed by the API; kept here so that a revert gives it back

    create = Workflow(
        "demo.create-server",
        sequence(
            Task("hold-quota", hold_quota, give_back_quota, requires=("server_id", "claim")),
            Task(
                "schedule",
                schedule,
                requires=("server_id", "cores"),
                provides="host",
                # a scheduler being replaced answers late, never wrongly: ask again
                retry=Retry(attempts=3, first=0.05),
            ),
            Task(
                "allocate",
                allocate,
                deallocate,
                requires=("server_id", "cores", "host"),
                retry=Retry(attempts=2, first=0.05, on=(NoRoom,)),
            ),
            Task("boot", boot, requires=("server_id", "boot_seconds")),
            Task("finish", finish, requires=("server_id", "claim", "host")),
        ),
        version=1,
        inputs=("server_id", "cores", "claim", "boot_seconds"),
    )

    async def unplug(ctx: TaskContext, server_id: str) -> None:
        await parts.inventory.update(server_id, state="DELETING")
        await deallocate(ctx, None, server_id)

    async def release(ctx: TaskContext, server_id: str) -> None:
        await _release(parts, server_id)
        await parts.inventory.update(server_id, state="DELETED")
        await _tell(parts, "server.delete.end", server_id)

    delete = Workflow(
        "demo.delete-server",
        sequence(
            Task("deallocate", unplug, requires=("server_id",)),
            Task("release-quota", release, requires=("server_id",)),
        ),
        version=1,
        inputs=("server_id",),
    )
    return create, delete


async def _release(parts: Parts, server_id: str) -> None:
    server = await parts.inventory.get(server_id)
    if server is not None and server.claim is not None:
        await parts.quota.release(server.claim)  # False if gone already: idempotent


async def _tell(parts: Parts, event: str, server_id: str, **extra: Any) -> None:
    server = await parts.inventory.get(server_id)
    payload: dict[str, Any] = {"id": server_id, "cloud": parts.inventory.cloud, **extra}
    if server is not None:
        payload.update(name=server.name, cores=server.cores, state=server.state)
    await parts.notifier.info(None, event, payload)
