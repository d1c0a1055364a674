"""Group membership: join with capabilities, list members, watch joins and leaves.

A member is an entry keyed by its member id in the namespace ``group/<name>``, owned by the
coordinator's session: a member that dies (SIGKILL, a lost network) leaves when its lease runs
out. A coordinator whose session was lost joins its groups again on its new session.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from anker.coordination._backend import SERVER_EXPIRY, Entry, EntryExists, SessionExpired
from anker.coordination._errors import MemberExists

if TYPE_CHECKING:
    from anker.coordination._coordinator import Coordinator

__all__ = ["Group", "GroupEvent", "GroupWatch", "Member"]

log = logging.getLogger("anker.coordination")


@dataclass(frozen=True, slots=True)
class Member:
    """A live member of a group."""

    id: str
    capabilities: Mapping[str, Any] = field(default_factory=dict)
    since: float = 0.0  # seconds since the epoch
    expires_in: float | None = None


@dataclass(frozen=True, slots=True)
class GroupEvent:
    """A member joined or left."""

    kind: Literal["join", "leave"]
    member: Member


def _member(entry: Entry) -> Member:
    try:
        capabilities = json.loads(entry.value)
    except ValueError:
        capabilities = {}
    if not isinstance(capabilities, dict):
        capabilities = {}
    return Member(entry.key, capabilities, entry.created, entry.expires_in)


class Group:
    """One group on a coordinator; made by :meth:`Coordinator.group`.

    .. versionadded:: 0.1
    """

    def __init__(self, coordinator: Coordinator, name: str) -> None:
        self.coordinator = coordinator
        self.name = name
        self.namespace = coordinator._namespace("group", name)

    def __repr__(self) -> str:
        return f"<Group {self.name!r}>"

    @property
    def joined(self) -> bool:
        """Whether this coordinator's member is in the group (as far as it knows)."""
        return self.name in self.coordinator._memberships

    async def join(self, capabilities: Mapping[str, Any] | None = None) -> None:
        """Join as the coordinator's member id, with JSON-serializable ``capabilities``.

        The coordinator joins again by itself whenever it has to start a new session.
        Raises :class:`MemberExists` if another live session joined under the same id, and
        :class:`BackendUnavailable` if the backend does not answer within the timeout.
        """
        coordinator = self.coordinator
        value = json.dumps(dict(capabilities or {}), sort_keys=True).encode()
        keeper = coordinator._keeper
        deadline = time.monotonic() + coordinator.timeout
        while True:
            session = await keeper.current(deadline)
            try:
                await self._put(session, value)
            except SessionExpired:
                keeper.expired(session)  # and join on the next session
                continue
            break
        coordinator._memberships[self.name] = value

    async def _put(self, session: str, value: bytes) -> None:
        coordinator = self.coordinator
        backend = coordinator._backend
        member = coordinator.member_id
        try:
            await coordinator._call(
                "join group", backend.put(session, self.namespace, member, value)
            )
        except EntryExists:
            entries = await coordinator._call("read group", backend.entries(self.namespace))
            mine = next((e for e in entries if e.key == member), None)
            ours = (
                mine is None or mine.session == session or mine.session in coordinator._keeper.past
            )
            if not ours:
                raise MemberExists(self.name, member) from None
            # our own earlier join (this session's, or a lost one's that the server still
            # has): replace it, so new capabilities take effect
            await coordinator._call("leave group", backend.delete(self.namespace, member))
            await coordinator._call(
                "join group", backend.put(session, self.namespace, member, value)
            )

    async def leave(self) -> None:
        """Leave the group (leaving a group one is not in is not an error)."""
        self.coordinator._memberships.pop(self.name, None)
        await self.coordinator._call(
            "leave group",
            self.coordinator._backend.delete(self.namespace, self.coordinator.member_id),
        )

    async def members(self) -> list[Member]:
        """The live members, in the order they joined."""
        entries = await self.coordinator._call(
            "read group", self.coordinator._backend.entries(self.namespace)
        )
        return [_member(entry) for entry in entries]

    async def events(self) -> AsyncIterator[GroupEvent]:
        """Joins and leaves from now on (members present at the start are not reported).

        A member that dies is reported as leaving when its lease runs out. Events are the
        differences between successive reads of the group, so a member that joins and leaves
        again between two reads may go unreported; the member list itself is always current.
        """
        async for event in self._events(None):
            yield event

    async def _events(self, ready: asyncio.Event | None) -> AsyncIterator[GroupEvent]:
        coordinator = self.coordinator
        backend = coordinator._backend
        server_expiry = SERVER_EXPIRY in backend.capabilities
        async with coordinator._watch(self.namespace) as watch:
            known = {m.id: m for m in await self.members()}
            if ready is not None:
                ready.set()
            while True:
                wait = max(coordinator.lease, 1.0)
                if not server_expiry:
                    expiries = [m.expires_in for m in known.values() if m.expires_in is not None]
                    if expiries:
                        wait = min(wait, min(expiries) + 0.02)
                await watch.wait(wait)
                current = {m.id: m for m in await self.members()}
                for member_id in known.keys() - current.keys():
                    yield GroupEvent("leave", known[member_id])
                for member_id, member in current.items():
                    previous = known.get(member_id)
                    if previous is None:
                        yield GroupEvent("join", member)
                    elif previous.since != member.since:  # left and came back in between
                        yield GroupEvent("leave", previous)
                        yield GroupEvent("join", member)
                known = current

    def watch(
        self,
        on_join: Callable[[Member], object] | None = None,
        on_leave: Callable[[Member], object] | None = None,
    ) -> GroupWatch:
        """Call ``on_join``/``on_leave`` (plain or async functions) for each change, in the
        background, until the returned watch is stopped or the coordinator closes."""
        return GroupWatch(self, on_join, on_leave)


class GroupWatch:
    """A background task reporting a group's joins and leaves to callbacks."""

    def __init__(
        self,
        group: Group,
        on_join: Callable[[Member], object] | None,
        on_leave: Callable[[Member], object] | None,
    ) -> None:
        self.group = group
        self._on_join = on_join
        self._on_leave = on_leave
        #: set once the watch has read the group: changes after that are reported
        self.started = asyncio.Event()
        self._task = group.coordinator._spawn(self._run())

    async def _run(self) -> None:
        retry = 0.05
        while True:
            try:
                events = self.group._events(self.started)
                async for event in events:
                    callback = self._on_join if event.kind == "join" else self._on_leave
                    if callback is None:
                        continue
                    try:
                        result = callback(event.member)
                        if inspect.isawaitable(result):
                            await result
                    except Exception:
                        log.exception("group %r: %s callback failed", self.group.name, event.kind)
                retry = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("watching group %r failed (%s); retrying", self.group.name, exc)
                await asyncio.sleep(retry)
                retry = min(retry * 2, self.group.coordinator.lease)

    async def stop(self) -> None:
        """Stop reporting."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
