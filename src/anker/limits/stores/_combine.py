"""Group commit of claims for the SQL stores: the claims of one process that wait while a
claim transaction is on its way go together in the next one.

Eight claimers of one project queue on the same usage rows, whose locks are held until each
commit; one transaction per claim makes every claim pay a commit (and, on PostgreSQL's
durable default, a flush to disk) with the rows locked. A :class:`Combiner` instead sends
the claims that arrived meanwhile (at most :data:`CLAIM_BATCH`) as one batch: the store
checks them in the order they came, each against the counters as the earlier ones of the
batch left them (a refused claim changes nothing and refuses only itself, with its own
figures), and applies the granted ones in one transaction. A lone claim goes at once, as a
batch of one; nothing waits for company. Across processes the store's locks still order
whole batches, so a batch is as atomic as a single claim.

If the batch's transaction fails (the connection dies, a constraint refuses a row), nothing
of it is applied and every claim in it raises the error. A claimer cancelled before its
batch left is dropped from it; one cancelled while its batch was on its way has its claim
released as soon as the batch is granted, so no reservation is left without an owner; and
so is every claim of a batch whose transaction outlived the store's timeout in its thread
and committed after its claimers were told it failed (:meth:`Combiner.undo_late`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from anker.limits._errors import LimitsError, OverQuota, UnknownResource
from anker.limits._model import UNLIMITED, ClaimInfo

__all__ = ["CLAIM_BATCH", "Batch", "Combiner", "Request", "claim_info"]

#: the most claims of one process that go in one transaction
CLAIM_BATCH = 64

#: the levels a claim of one resource is checked on: each level, its counter, its limit
_Involved = list[tuple[str, list[int], int]]

#: what a batch's transaction answers for each claim: the granted claim, or why not
Outcome = TypeVar("Outcome")


@dataclass(slots=True)
class Request(Generic[Outcome]):
    """One claim waiting for its batch."""

    id: str
    project: str
    resources: Mapping[str, int]
    lease: float
    note: str
    future: asyncio.Future[Outcome] = field(repr=False)


class Combiner(Generic[Outcome]):
    """Batches the claims of one store: :meth:`submit` queues a claim and waits for its
    outcome; at most one batch is on its way at a time (``send`` runs it in one
    transaction and returns one outcome per claim, in order); ``granted`` tells which
    outcomes reserved something, and ``release`` gives back a claim by id (for claimers
    cancelled while their batch was on its way)."""

    def __init__(
        self,
        send: Callable[[list[Request[Outcome]]], Awaitable[list[Outcome]]],
        granted: Callable[[Outcome], bool],
        release: Callable[[str], Coroutine[object, object, object]],
    ) -> None:
        self._send = send
        self._granted = granted
        self._release = release
        self._waiting: list[Request[Outcome]] = []
        self._sender: asyncio.Task[None] | None = None
        #: releases of claims granted to cancelled claimers, held until done
        self._tasks: set[asyncio.Task[object]] = set()

    async def submit(
        self, claim_id: str, project: str, resources: Mapping[str, int], lease: float, note: str
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._waiting.append(Request(claim_id, project, resources, lease, note, future))
        if self._sender is None:
            self._sender = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = [r for r in self._waiting[:CLAIM_BATCH] if not r.future.cancelled()]
                del self._waiting[:CLAIM_BATCH]
                if batch:
                    await self._one_batch(batch)
        except BaseException as exc:  # cancelled (the loop is closing): the waiting learn it
            for request in self._waiting:
                if not request.future.done():
                    request.future.set_exception(exc)
            self._waiting.clear()
            raise
        finally:
            self._sender = None

    async def _one_batch(self, batch: list[Request[Outcome]]) -> None:
        try:
            outcomes = await self._send(batch)
        except BaseException as exc:
            if isinstance(exc, Exception) and len(batch) > 1:
                exc.add_note(
                    f"the {len(batch)} claims sent together in this transaction all failed "
                    f"with it; none was granted"
                )
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for request, outcome in zip(batch, outcomes, strict=True):
            if not request.future.done():
                request.future.set_result(outcome)
            elif self._granted(outcome):
                # its claimer was cancelled while the batch was on its way: give it back
                self._give_back(request.id)

    def undo_late(self, batch: list[Request[Outcome]]) -> Callable[[list[Outcome]], None]:
        """What to do with the outcomes of ``batch`` if its transaction commits after its
        claimers were told it failed (it outlived the store's timeout in its thread): give
        back every claim it granted, so none is held without an owner until its lease ends."""

        def undo(outcomes: list[Outcome]) -> None:
            for request, outcome in zip(batch, outcomes, strict=True):
                if self._granted(outcome):
                    self._give_back(request.id)

        return undo

    def _give_back(self, claim_id: str) -> None:
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(self._release(claim_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Wait for the batch on its way and the releases still running (before closing)."""
        pending = [*self._tasks, *([self._sender] if self._sender is not None else [])]
        if pending:
            await asyncio.wait(pending)


class Batch:
    """The checks of one batch of claims: the paths, limits and counters the store read
    (with the batch's rows locked), the running totals as granted claims add to them, and
    the changes to write.

    ``paths``: each known project and its ancestors, leaf first; ``own``: the limits on them,
    by (project, resource); ``registered``: the default limits, by resource; ``counters``:
    [used, subtree] by (project, resource), missing ones zero.
    """

    def __init__(
        self,
        model: str,
        paths: Mapping[str, list[str]],
        own: Mapping[tuple[str, str], int],
        registered: Mapping[str, int],
        counters: dict[tuple[str, str], list[int]],
    ) -> None:
        self.model = model
        self.paths = paths
        self.own = own
        self.registered = registered
        self.counters = counters
        #: (level, resource) -> [used, reserved, subtree] to add, for every counter a granted
        #: claim touched (so the store creates the missing ones)
        self.changes: dict[tuple[str, str], list[int]] = {}
        self._levels: dict[tuple[str, str], _Involved | LimitsError] = {}

    def _involved(self, project: str, resource: str) -> _Involved | LimitsError:
        """The levels of ``project``'s path that the model checks for ``resource``: each with
        its counter and limit; or the resource's :class:`UnknownResource` on the nearest level
        without a limit."""
        found = self._levels.get((project, resource))
        if found is not None:
            return found
        path = self.paths[project]
        levels: _Involved = []
        for level in path[:1] if self.model == "flat" else path:
            limit = self.own.get((level, resource), self.registered.get(resource))
            if limit is None:
                self._levels[(project, resource)] = error = UnknownResource(resource, level)
                return error
            levels.append((level, self.counters.setdefault((level, resource), [0, 0]), limit))
        self._levels[(project, resource)] = levels
        return levels

    def refusal(self, project: str, resources: Mapping[str, int]) -> LimitsError | None:
        """Why a claim of ``resources`` by ``project`` (a known one) is refused against the
        running counters, or None. An unknown resource is reported before an exceeded limit,
        each for the first resource by name and the nearest level, as every store reports
        them; the limit's rule is :func:`~anker.limits._model.binding_level`'s."""
        wanted = sorted(resources) if len(resources) > 1 else list(resources)
        checks = []
        for resource in wanted:
            involved = self._involved(project, resource)
            if isinstance(involved, LimitsError):
                return involved
            checks.append((resource, involved))
        side = 0 if self.model == "flat" else 1  # flat: own usage; else the subtree's
        for resource, involved in checks:
            amount = resources[resource]
            if not amount:
                continue
            for level, counter, limit in involved:
                if limit != UNLIMITED and counter[side] + amount > limit:
                    return OverQuota(
                        project,
                        resource,
                        requested=amount,
                        used=counter[side],
                        limit=limit,
                        binding=level,
                    )
        return None

    def add(self, project: str, resources: Mapping[str, int]) -> None:
        """Add a granted claim to the running counters and the changes to write."""
        path = self.paths[project]
        for resource, amount in resources.items():
            for level in path:
                key = (level, resource)
                counter = self.counters.setdefault(key, [0, 0])
                change = self.changes.setdefault(key, [0, 0, 0])
                counter[1] += amount
                change[2] += amount
                if level == project:
                    counter[0] += amount
                    change[0] += amount
                    change[1] += amount


def claim_info(request: Request[Outcome], path: Sequence[str], now: float) -> ClaimInfo:
    """The pending claim ``request`` became, created at ``now``."""
    return ClaimInfo(
        request.id,
        request.project,
        tuple(path),
        dict(request.resources),
        False,
        now,
        now + request.lease,
        request.note,
    )
