"""Discovery: a service instance registers in a coordination group with its endpoints and its
place (region, zone); clients list the live instances of a service nearest first.

An instance is a member of the group ``service.<name>`` for as long as its coordinator's
session lives: one that dies (SIGKILL, a partition) disappears when its lease ends, with no
one deleting anything. A draining instance leaves the group at the start of its drain, so
clients stop choosing it while it finishes its work (a rolling restart).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anker.coordination import Coordinator, Group

__all__ = ["Instance", "Registration", "discover", "group_name"]

#: every service's group is named with this prefix (and the service's name)
PREFIX = "service."


def group_name(service: str) -> str:
    """The coordination group of a service's instances (``service.compute-api``)."""
    return PREFIX + service


@dataclass(frozen=True, slots=True)
class Instance:
    """One live instance of a service, as it registered itself."""

    id: str
    endpoints: Mapping[str, str] = field(default_factory=dict)
    region: str | None = None
    zone: str | None = None
    host: str | None = None
    #: when it registered (seconds since the epoch)
    since: float = 0.0

    def nearness(self, region: str | None, zone: str | None) -> int:
        """0 in the same zone of the same region, 1 in the same region, 2 elsewhere."""
        if region is not None and self.region == region:
            return 0 if zone is not None and self.zone == zone else 1
        if region is None and zone is not None and self.zone == zone:
            return 0
        return 2

    def as_dict(self) -> dict[str, Any]:
        """The instance as ``anker service list --format json`` prints it."""
        return {
            "id": self.id,
            "endpoints": dict(self.endpoints),
            "region": self.region,
            "zone": self.zone,
            "host": self.host,
            "since": self.since,
        }


class Registration:
    """A component that registers this instance of ``service`` while it runs::

        service.add(Registration(coordinator, "compute-api",
                                 endpoints={"http": "http://10.0.0.5:8774"},
                                 region="r1", zone="az1"))

    It joins the group at start (after the components it is added after: add it after the
    servers whose endpoints it announces), leaves at the start of a drain, and leaves again at
    stop (harmless). The member id is the coordinator's. Endpoints must not hold credentials:
    they are readable by every client of the backend.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        coordinator: Coordinator,
        service: str,
        *,
        endpoints: Mapping[str, str] | None = None,
        region: str | None = None,
        zone: str | None = None,
        host: str | None = None,
    ) -> None:
        from anker._url import mask_urls

        shown = {key: mask_urls(str(value)) for key, value in (endpoints or {}).items()}
        if shown != dict(endpoints or {}):
            raise ValueError(
                f"the endpoints of {service!r} hold credentials: announce URLs without them"
            )
        self.coordinator = coordinator
        self.service = service
        self.name = f"registration of {service}"
        self.group: Group = coordinator.group(group_name(service))
        self.details = {
            "endpoints": dict(endpoints or {}),
            "region": region,
            "zone": zone,
            "host": host if host is not None else socket.gethostname(),
            "pid": os.getpid(),
        }

    def __repr__(self) -> str:
        return f"<Registration {self.service} as {self.coordinator.member_id}>"

    async def start(self) -> None:
        """Join the discovery group with this instance's details."""
        await self.group.join(self.details)

    async def drain(self, deadline: float) -> None:
        # first thing in a drain: clients stop choosing this instance while it finishes
        """Leave the group first, so clients stop choosing this instance while it drains."""
        await self.group.leave()

    def in_flight(self) -> list[str]:
        """Nothing: registration holds no work."""
        return []

    async def stop(self) -> None:
        """Leave the group, if still in it."""
        if self.group.joined:
            await self.group.leave()


async def discover(
    coordinator: Coordinator,
    service: str,
    *,
    region: str | None = None,
    zone: str | None = None,
) -> list[Instance]:
    """The live instances of ``service``, nearest first: the same zone (of the same region),
    then the same region, then the others; in the order they registered within each."""
    members = await coordinator.group(group_name(service)).members()
    found = [_instance(member.id, member.capabilities, member.since) for member in members]
    return sorted(found, key=lambda instance: instance.nearness(region, zone))


def _instance(member: str, details: Mapping[str, Any], since: float) -> Instance:
    endpoints = details.get("endpoints")
    return Instance(
        id=member,
        endpoints={str(k): str(v) for k, v in endpoints.items()}
        if isinstance(endpoints, dict)
        else {},
        region=_text(details.get("region")),
        zone=_text(details.get("zone")),
        host=_text(details.get("host")),
        since=since,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
