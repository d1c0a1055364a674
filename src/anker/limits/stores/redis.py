"""``redis://host:6379/0``: the limits store in Redis.

A claim is one Lua script (:mod:`anker.limits.stores._redis_lua`): it gives back expired
claims, walks the project's path, checks every level the model involves and reserves, while
Redis runs nothing else. Lease expiry uses the server's clock (``TIME``). Redis has no schema:
``upgrade`` does nothing. Keys live under ``?prefix=`` (default ``anker:limits:``); one server
or a Sentinel-managed primary, not a cluster. The client library is imported only when this
store is opened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from anker._drivers import DriverSettings, boundary, setting
from anker._engines.redis import RedisURLSettings, database, redis_client
from anker.limits._errors import (
    ClaimNotFound,
    InvalidTree,
    OverQuota,
    UnknownProject,
    UnknownResource,
)
from anker.limits._model import ClaimInfo, Usage
from anker.limits._store import Store, StoreSettings
from anker.limits.stores import _redis_lua as lua

if TYPE_CHECKING:
    from anker._url import BackendURL

__all__ = ["RedisStore", "RedisStoreSettings"]


@dataclass(frozen=True)
class RedisStoreSettings(StoreSettings, RedisURLSettings):
    """The options of ``redis://``."""

    #: keeps these quotas apart from others' on a shared server
    prefix: str = setting("anker:limits:", help="the prefix of every key of this store")


class RedisStore(Store):
    """Limits in Redis; see the module docstring."""

    settings_class: ClassVar[type[DriverSettings]] = RedisStoreSettings
    settings: RedisStoreSettings

    def __init__(self, url: BackendURL, settings: DriverSettings) -> None:
        super().__init__(url, settings)
        database(url, self.settings)  # checks the hosts and database number, no I/O
        self.prefix = self.settings.prefix
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

    async def connect(self) -> None:
        self._client, _ = redis_client(
            self.url, self.settings, self.settings.timeout, needed_for="the redis:// limits store"
        )
        await self._client.ping()
        for name in ("CLAIM", "COMMIT", "RELEASE", "SWEEP", "ADJUST", "SET_PROJECT"):
            self._scripts[name] = self._client.register_script(getattr(lua, name))

    async def probe(self) -> None:
        await self._call("probe", "ping")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def _script(self, operation: str, name: str, *args: object) -> Any:
        async with boundary(self.unavailable, self.url, operation, timeout=self.settings.timeout):
            return await self._scripts[name](args=[self.prefix, *args])

    async def _call(self, operation: str, method: str, *args: object) -> Any:
        async with boundary(self.unavailable, self.url, operation, timeout=self.settings.timeout):
            return await getattr(self._client, method)(*args)

    # -- the tree -------------------------------------------------------------------------

    async def set_project(self, project: str, parent: str | None) -> None:
        outcome = await self._script("set_project", "SET_PROJECT", project, parent or "")
        word, subject = (_text(part) for part in outcome)
        if word == "unknown-project":
            raise UnknownProject(subject)
        if word == "cycle":
            raise InvalidTree(f"project {project!r} under {parent!r}: a cycle")
        if word == "busy":
            raise InvalidTree(
                f"project {project!r} has usage in its subtree: release it before moving it"
            )

    async def delete_project(self, project: str) -> None:
        tree = await self.projects()
        if project not in tree:
            raise UnknownProject(project)
        children = sorted(child for child, up in tree.items() if up == project)
        if children:
            raise InvalidTree(f"project {project!r} has children: {', '.join(children)}")
        counters = await self._call("delete_project", "hgetall", self._key("usage", project))
        held = await self.claims(project)
        if held or any(int(value) for value in counters.values()):
            raise InvalidTree(f"project {project!r} has claims or usage: release them first")
        await self._call(
            "delete_project", "delete", self._key("usage", project), self._key("limits", project)
        )
        await self._call("delete_project", "hdel", self._key("projects"), project)

    async def projects(self) -> dict[str, str | None]:
        found = await self._call("projects", "hgetall", self._key("projects"))
        return {_text(k): (_text(v) or None) for k, v in found.items()}

    # -- limits ---------------------------------------------------------------------------

    async def set_default(self, resource: str, limit: int | None) -> None:
        if limit is None:
            await self._call("set_default", "hdel", self._key("defaults"), resource)
        else:
            await self._call("set_default", "hset", self._key("defaults"), resource, limit)

    async def defaults(self) -> dict[str, int]:
        found = await self._call("defaults", "hgetall", self._key("defaults"))
        return {_text(k): int(v) for k, v in found.items()}

    async def set_limit(self, project: str, resource: str, limit: int | None) -> None:
        if not await self._call("set_limit", "hexists", self._key("projects"), project):
            raise UnknownProject(project)
        key = self._key("limits", project)
        if limit is None:
            await self._call("set_limit", "hdel", key, resource)
        else:
            await self._call("set_limit", "hset", key, resource, limit)

    async def limits(self) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for project in await self.projects():
            own = await self._call("limits", "hgetall", self._key("limits", project))
            if own:
                found[project] = {_text(k): int(v) for k, v in own.items()}
        return found

    # -- claims ---------------------------------------------------------------------------

    async def claim(
        self, claim_id: str, project: str, resources: Mapping[str, int], lease: float, note: str
    ) -> ClaimInfo:
        pairs = [part for item in sorted(resources.items()) for part in item]
        outcome = [
            _text(part)
            for part in await self._script(
                "claim", "CLAIM", self.settings.model, claim_id, project, repr(lease), note, *pairs
            )
        ]
        word = outcome[0]
        if word == "unknown-project":
            raise UnknownProject(outcome[1])
        if word == "unknown-resource":
            raise UnknownResource(outcome[1], outcome[2])
        if word == "over":
            resource, requested, used, limit, binding = outcome[1:6]
            raise OverQuota(
                project,
                resource,
                requested=int(requested),
                used=int(used),
                limit=int(limit),
                binding=binding,
            )
        path, created, expires = json.loads(outcome[1]), float(outcome[2]), float(outcome[3])
        return ClaimInfo(
            claim_id, project, tuple(path), dict(resources), False, created, expires, note
        )

    async def commit(self, claim_id: str) -> ClaimInfo:
        fields = await self._script("commit", "COMMIT", claim_id)
        if not fields:
            raise ClaimNotFound(claim_id)
        return _info(claim_id, fields)

    async def release(self, claim_id: str) -> ClaimInfo | None:
        fields = await self._script("release", "RELEASE", claim_id)
        return _info(claim_id, fields) if fields else None

    async def claims(self, project: str | None = None) -> list[ClaimInfo]:
        ids = [_text(i) for i in await self._call("claims", "zrange", self._key("claims"), 0, -1)]
        found = []
        for claim_id in ids:
            fields = await self._call("claims", "hgetall", self._key("claim", claim_id))
            if fields:
                info = _info(claim_id, [x for pair in fields.items() for x in pair])
                if project is None or info.project == project:
                    found.append(info)
        return found

    async def sweep(self) -> int:
        return int(await self._script("sweep", "SWEEP"))

    async def expired(self) -> list[ClaimInfo]:
        seconds, micros = await self._call("expired", "time")
        at = int(seconds) + int(micros) / 1_000_000  # the server's clock, as the sweep's
        key = self._key("expiry")
        ids = await self._call("expired", "zrangebyscore", key, "-inf", f"({at!r}")
        found = []
        for claim_id in (_text(i) for i in ids):
            fields = await self._call("expired", "hgetall", self._key("claim", claim_id))
            info = _info(claim_id, [x for pair in fields.items() for x in pair]) if fields else None
            if info is not None and info.expires is not None and info.expires < at:
                found.append(info)  # (not committed or released since the index was read)
        return found

    # -- usage ----------------------------------------------------------------------------

    async def usage(self) -> list[Usage]:
        tree = await self.projects()
        registered = await self.defaults()
        own = await self.limits()
        found = []
        for project in sorted(tree):
            raw = await self._call("usage", "hgetall", self._key("usage", project))
            counters = {_text(k): int(v) for k, v in raw.items()}
            names = (
                set(registered)
                | set(own.get(project, {}))
                | {name.partition(":")[2] for name in counters}
            )
            for resource in sorted(names):
                limit = own.get(project, {}).get(resource, registered.get(resource, 0))
                found.append(
                    Usage(
                        project,
                        resource,
                        counters.get(f"used:{resource}", 0),
                        counters.get(f"reserved:{resource}", 0),
                        counters.get(f"subtree:{resource}", 0),
                        limit,
                    )
                )
        return found

    async def adjust(self, project: str, resource: str, delta: int) -> int:
        result = await self._script("adjust", "ADJUST", project, resource, delta)
        if result is None:
            raise UnknownProject(project)
        return int(result)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _info(claim_id: str, fields: list[Any]) -> ClaimInfo:
    found = {_text(fields[i]): _text(fields[i + 1]) for i in range(0, len(fields), 2)}
    return ClaimInfo(
        id=claim_id,
        project=found["project"],
        path=tuple(json.loads(found["path"])),
        resources=MappingProxyType(json.loads(found["resources"])),
        committed=found["committed"] == "1",
        created=float(found["created"]),
        expires=float(found["expires"]) if found.get("expires") else None,
        note=found.get("note", ""),
    )
