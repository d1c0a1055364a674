"""A hypothesis state machine for the limits stores: random sequences of claims, commits,
releases, double releases and recounts, checked after every step against a plain model of
what the counters must be. Each store's test subclasses it with the store's URL
(tests/unit/test_limits_states.py for SQLite, tests/integration/limits for the servers)."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from anker.limits import Claim, ClaimNotFound, OverQuota, Quota

TREE = {"domain": None, "a": "domain", "b": "domain", "a1": "a"}
LIMITS = {"domain": 6, "a": 4, "b": -1, "a1": 3}


def path(project: str) -> list[str]:
    found = [project]
    while (parent := TREE[found[-1]]) is not None:
        found.append(parent)
    return found


class ClaimsMachine(RuleBasedStateMachine):
    """The store against a dictionary of live claims (project, amount, committed)."""

    claims = Bundle("claims")
    gone = Bundle("gone")
    #: whether claims sent at once are granted in the order they were sent (the SQL stores'
    #: group commit) rather than in the order they reach the store
    in_order = True

    def store(self) -> contextlib.AbstractContextManager[str]:
        """An empty store's URL for one run, removed afterwards (each store's subclass)."""
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.ExitStack()
        self.quota: Quota | None = None
        self.live: dict[str, tuple[str, int, bool]] = {}
        #: each project's committed usage: commits add, releases take off (never below 0),
        #: recounts set it
        self.committed: dict[str, int] = dict.fromkeys(TREE, 0)

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coroutine)

    @initialize()
    def open_store(self) -> None:
        url = self.stack.enter_context(self.store())
        self.quota = quota = self.run(Quota.open(url, upgrade=True, lease=3600))
        self.run(quota.set_default("cores", 0))
        for project, parent in TREE.items():
            self.run(quota.set_project(project, parent))
            self.run(quota.set_limit(project, "cores", LIMITS[project]))

    def pending(self, project: str) -> int:
        return sum(a for p, a, c in self.live.values() if p == project and not c)

    def subtree(self, project: str) -> int:
        return sum(self.committed[p] + self.pending(p) for p in TREE if project in path(p))

    def fits(self, project: str, amount: int) -> bool:
        # asking for nothing always fits, even where a recount left usage over a limit
        return amount == 0 or all(
            LIMITS[level] == -1 or self.subtree(level) + amount <= LIMITS[level]
            for level in path(project)
        )

    @rule(target=claims, project=st.sampled_from(sorted(TREE)), amount=st.integers(0, 4))
    def claim(self, project: str, amount: int) -> object:
        assert self.quota is not None
        expected = self.fits(project, amount)
        binding = None
        try:
            claim = self.run(self.quota.claim(project, {"cores": amount}))
        except OverQuota as error:
            binding = error.binding
        if binding is not None:
            assert not expected, "refused a claim that fits"
            assert binding in path(project)
            return multiple()
        assert expected, "granted a claim over a limit"
        self.live[claim.id] = (project, amount, False)
        return claim.id

    @rule(
        target=claims,
        together=st.lists(
            st.tuples(st.sampled_from(sorted(TREE)), st.integers(0, 4)), min_size=2, max_size=6
        ),
    )
    def claim_together(self, together: list[tuple[str, int]]) -> object:
        """Claims sent at once: a store that batches them (group commit) checks each against
        what the earlier ones took, in the order they came (``in_order``); any store grants
        only what fits and names a real binding level."""
        assert self.quota is not None
        quota = self.quota

        async def one(project: str, amount: int) -> object:
            try:
                return await quota.claim(project, {"cores": amount})
            except OverQuota as error:
                return error

        async def all_at_once() -> list[object]:
            return await asyncio.gather(*(one(p, a) for p, a in together))

        outcomes = self.run(all_at_once())
        granted = []
        for (project, amount), outcome in zip(together, outcomes, strict=True):
            if self.in_order:
                assert isinstance(outcome, OverQuota) != self.fits(project, amount), outcome
            if isinstance(outcome, OverQuota):
                assert outcome.binding in path(project)
                assert outcome.used + outcome.requested > outcome.limit
                assert outcome.limit == LIMITS[outcome.binding]
                continue
            assert isinstance(outcome, Claim)
            self.live[outcome.id] = (project, amount, False)
            granted.append(outcome.id)
        return multiple(*granted)

    @rule(claim_id=claims)
    def commit(self, claim_id: str) -> None:
        assert self.quota is not None
        if claim_id not in self.live:
            return  # released by an earlier step of this run
        self.run(self.quota.commit(claim_id))
        project, amount, committed = self.live[claim_id]
        if not committed:
            self.committed[project] += amount
        self.live[claim_id] = (project, amount, True)

    @rule(target=gone, claim_id=consumes(claims))
    def release(self, claim_id: str) -> str:
        assert self.quota is not None
        assert self.run(self.quota.release(claim_id)) is True
        project, amount, committed = self.live.pop(claim_id)
        if committed:
            self.committed[project] = max(0, self.committed[project] - amount)
        return claim_id

    @rule(claim_id=gone)
    def release_again(self, claim_id: str) -> None:
        assert self.quota is not None
        assert self.run(self.quota.release(claim_id)) is False
        committed = True
        try:
            self.run(self.quota.commit(claim_id))
        except ClaimNotFound:
            committed = False
        assert not committed, "committed a released claim"

    @rule(project=st.sampled_from(sorted(TREE)), counted=st.integers(0, 3))
    def recount(self, project: str, counted: int) -> None:
        assert self.quota is not None
        recorded = self.committed[project]

        def counter(_project: str, resources: list[str]) -> dict[str, int]:
            return {"cores": counted}

        drifts = self.run(self.quota.recount(counter, projects=[project], repair=True))
        assert [(d.recorded, d.counted) for d in drifts] == (
            [] if recorded == counted else [(recorded, counted)]
        )
        self.committed[project] = counted

    @invariant()
    def counters_match(self) -> None:
        if self.quota is None:
            return
        for entry in self.run(self.quota.usage()):
            pending = self.pending(entry.project)
            assert entry.used == self.committed[entry.project] + pending, entry
            assert entry.reserved == pending, entry
            assert entry.subtree == self.subtree(entry.project), entry
            assert min(entry.used, entry.reserved, entry.subtree) >= 0

    def teardown(self) -> None:
        if self.quota is not None:
            self.run(self.quota.aclose())
        self.loop.close()
        self.stack.close()


#: few, short runs: every step talks to a real store
SETTINGS = settings(max_examples=10, stateful_step_count=20, deadline=None)
