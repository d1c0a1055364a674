"""The contract every limits store keeps, on every store (sqlite, postgresql, redis)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from anker.limits import (
    ClaimNotFound,
    InvalidTree,
    OverQuota,
    UnknownProject,
    UnknownResource,
)
from limits_support import OpenQuota, three_levels
from waiting import eventually

CHILD = Path(__file__).with_name("limits_child.py")


def used(usage: list, project: str, resource: str = "cores") -> tuple[int, int, int]:
    """(used, reserved, subtree) of one project's resource."""
    for entry in usage:
        if entry.project == project and entry.resource == resource:
            return entry.used, entry.reserved, entry.subtree
    return 0, 0, 0


async def test_a_claim_reserves_commits_and_releases(open_quota: OpenQuota) -> None:
    quota = await open_quota()
    await quota.set_default("cores", 8)
    await quota.set_default("instances", 2)
    await quota.set_project("p")
    claim = await quota.claim("p", {"cores": 4, "instances": 1}, note="vm-1")
    assert not claim.committed
    assert claim.expires is not None
    assert used(await quota.usage("p"), "p") == (4, 4, 4)
    await claim.commit()
    assert claim.committed
    assert claim.expires is None
    assert used(await quota.usage("p"), "p") == (4, 0, 4)
    await claim.commit()  # idempotent
    [listed] = await quota.claims("p")
    assert (listed.id, listed.note, listed.committed) == (claim.id, "vm-1", True)
    assert dict(listed.resources) == {"cores": 4, "instances": 1}
    assert await claim.release() is True
    assert used(await quota.usage("p"), "p") == (0, 0, 0)
    assert await quota.claims() == []


async def test_over_quota_names_resource_usage_limit_and_reserves_nothing(
    open_quota: OpenQuota,
) -> None:
    quota = await open_quota()
    await quota.set_default("cores", 4)
    await quota.set_default("ram", 100)
    await quota.set_project("p")
    await quota.claim("p", {"cores": 3})
    with pytest.raises(OverQuota) as refused:
        await quota.claim("p", {"ram": 50, "cores": 2})
    error = refused.value
    assert (error.project, error.resource, error.requested, error.used, error.limit) == (
        "p",
        "cores",
        2,
        3,
        4,
    )
    assert error.binding == "p"
    assert "3 used + 2 requested > 4" in str(error)
    # the ram of the refused claim was not reserved
    assert used(await quota.usage("p"), "p", "ram") == (0, 0, 0)


async def test_unlimited_and_zero_limits(open_quota: OpenQuota) -> None:
    quota = await open_quota()
    await quota.set_default("cores", 0)
    await quota.set_project("p")
    await quota.set_project("q")
    await quota.set_limit("q", "cores", -1)
    with pytest.raises(OverQuota):
        await quota.claim("p", {"cores": 1})
    claim = await quota.claim("q", {"cores": 10**9})
    assert claim.resources == {"cores": 10**9}
    await quota.set_limit("q", "cores", None)  # back to the default 0
    with pytest.raises(OverQuota):
        await quota.claim("q", {"cores": 1})


async def test_unknown_project_and_unregistered_resource_are_refused(
    open_quota: OpenQuota,
) -> None:
    quota = await open_quota()
    await quota.set_project("p")
    with pytest.raises(UnknownProject, match="'nope'"):
        await quota.claim("nope", {"cores": 1})
    with pytest.raises(UnknownResource, match="'gpus'"):
        await quota.claim("p", {"gpus": 1})
    await quota.set_default("cores", 0)
    with pytest.raises(UnknownResource, match="'gpus'"):  # reported before any limit
        await quota.claim("p", {"cores": 1, "gpus": 1})
    with pytest.raises(UnknownProject):
        await quota.set_limit("nope", "cores", 1)
    with pytest.raises(UnknownProject):
        await quota.set_project("child", "nope")


@pytest.mark.parametrize("model", ["hierarchical", "strict-two-level"])
async def test_an_ancestor_bounds_its_subtree(open_quota: OpenQuota, model: str) -> None:
    quota = await open_quota(model=model)
    await quota.set_default("cores", -1)
    await quota.set_project("domain")
    await quota.set_project("a", "domain")
    await quota.set_project("b", "domain")
    await quota.set_limit("domain", "cores", 10)
    await quota.claim("domain", {"cores": 2})  # the parent's own usage counts too
    await quota.claim("a", {"cores": 5})
    with pytest.raises(OverQuota) as refused:
        await quota.claim("b", {"cores": 4})
    assert (refused.value.binding, refused.value.used, refused.value.limit) == ("domain", 7, 10)
    await quota.claim("b", {"cores": 3})
    usage = await quota.usage()
    assert used(usage, "domain") == (2, 2, 10)
    assert used(usage, "b") == (3, 3, 3)


async def test_flat_checks_each_project_alone(open_quota: OpenQuota) -> None:
    quota = await open_quota(model="flat")
    await quota.set_default("cores", 5)
    await quota.set_project("domain")
    await quota.set_project("a", "domain")
    await quota.set_project("b", "domain")
    await quota.claim("a", {"cores": 5})
    await quota.claim("b", {"cores": 5})  # the domain's 5 bound only the domain's own usage
    await quota.claim("domain", {"cores": 5})
    with pytest.raises(OverQuota) as refused:
        await quota.claim("a", {"cores": 1})
    assert refused.value.binding == "a"


async def test_strict_two_level_keeps_two_levels_and_child_limits_under_the_parent(
    open_quota: OpenQuota,
) -> None:
    quota = await open_quota(model="strict-two-level")
    await quota.set_default("cores", 10)
    await quota.set_project("domain")
    await quota.set_project("project", "domain")
    with pytest.raises(InvalidTree, match="two levels"):
        await quota.set_project("leaf", "project")
    with pytest.raises(InvalidTree, match="exceeds its parent"):
        await quota.set_limit("project", "cores", 11)
    with pytest.raises(InvalidTree, match="exceeds its parent"):
        await quota.set_limit("project", "cores", -1)
    await quota.set_limit("project", "cores", 4)
    with pytest.raises(InvalidTree, match="below its child"):
        await quota.set_limit("domain", "cores", 3)


async def test_three_levels_a_leaf_is_refused_when_its_grandparent_is_full(
    open_quota: OpenQuota,
) -> None:
    quota = await open_quota()
    await three_levels(quota, top=3)
    await quota.set_project("sibling", "domain")
    await quota.claim("sibling", {"cores": 2})
    await quota.claim("leaf", {"cores": 1})
    with pytest.raises(OverQuota) as refused:
        await quota.claim("leaf", {"cores": 1})
    assert (refused.value.project, refused.value.binding) == ("leaf", "domain")
    usage = await quota.usage()
    assert [used(usage, name)[2] for name in ("domain", "project", "leaf")] == [3, 1, 1]


async def test_a_double_release_never_makes_usage_negative(open_quota: OpenQuota) -> None:
    quota = await open_quota()
    await three_levels(quota, top=10)
    first = await quota.claim("leaf", {"cores": 3})
    second = await quota.claim("leaf", {"cores": 2})
    await first.commit()
    assert await first.release() is True
    assert await first.release() is False
    assert await quota.release(first.id) is False
    usage = await quota.usage()
    assert [used(usage, name) for name in ("leaf", "project", "domain")] == [
        (2, 2, 2),
        (0, 0, 2),
        (0, 0, 2),
    ]
    await second.release()
    await second.release()
    usage = await quota.usage()
    assert all(min(e.used, e.reserved, e.subtree) == 0 for e in usage), usage
    with pytest.raises(ClaimNotFound):
        await first.commit()


async def test_an_uncommitted_claim_expires_after_its_lease(open_quota: OpenQuota) -> None:
    quota = await open_quota()
    await three_levels(quota, top=2)
    kept = await quota.claim("leaf", {"cores": 1}, lease=60)
    await kept.commit()
    await quota.claim("leaf", {"cores": 1}, lease=0.2)
    # the store's own counters (no sweep): the reservation is held until it is given back
    assert used(await quota.store.usage(), "domain")[2] == 2

    async def granted() -> bool:
        try:
            await quota.claim("leaf", {"cores": 1}, lease=60)
        except OverQuota:
            return False
        return True

    await eventually(granted, what="the expired claim's core is free again")
    assert {c.id for c in await quota.claims() if c.committed} == {kept.id}
    usage = await quota.usage()
    assert [used(usage, name)[2] for name in ("leaf", "project", "domain")] == [2, 2, 2]


async def test_expired_claims_are_listed_without_being_given_back(
    open_quota: OpenQuota,
) -> None:
    # what `anker quota usage` reads on a store it may not write
    quota = await open_quota()
    await three_levels(quota, top=5)
    await (await quota.claim("leaf", {"cores": 1})).commit()
    await quota.claim("leaf", {"cores": 1}, lease=60)
    short = await quota.claim("leaf", {"cores": 2}, lease=0.05)

    async def listed() -> bool:
        return [c.id for c in await quota.store.expired()] == [short.id]

    await eventually(listed, what="the short claim's lease ran out")
    assert short.id in {c.id for c in await quota.store.claims()}  # still there
    assert used(await quota.store.usage(), "leaf") == (4, 3, 4)


async def test_committing_an_expired_and_swept_claim_is_refused(open_quota: OpenQuota) -> None:
    quota = await open_quota()
    await three_levels(quota, top=5)
    claim = await quota.claim("leaf", {"cores": 1}, lease=0.05)

    async def swept() -> bool:
        return await quota.sweep() == 1 or not await quota.claims()

    await eventually(swept, what="the claim is swept")
    with pytest.raises(ClaimNotFound):
        await claim.commit()
    assert used(await quota.usage(), "domain") == (0, 0, 0)


async def test_a_claim_block_commits_on_success_and_releases_on_error(
    open_quota: OpenQuota,
) -> None:
    quota = await open_quota()
    await three_levels(quota, top=5)
    async with await quota.claim("leaf", {"cores": 2}) as claim:
        pass
    assert claim.committed
    with pytest.raises(RuntimeError):
        async with await quota.claim("leaf", {"cores": 3}):
            raise RuntimeError("creating the server failed")
    assert used(await quota.usage(), "domain")[2] == 2


async def test_the_tree_moves_only_without_usage_and_refuses_cycles(
    open_quota: OpenQuota,
) -> None:
    quota = await open_quota()
    await three_levels(quota, top=5)
    await quota.set_project("other")
    with pytest.raises(InvalidTree, match="cycle"):
        await quota.set_project("domain", "leaf")
    claim = await quota.claim("leaf", {"cores": 1})
    with pytest.raises(InvalidTree, match="usage"):
        await quota.set_project("project", "other")
    with pytest.raises(InvalidTree):
        await quota.delete_project("leaf")
    with pytest.raises(InvalidTree, match="children"):
        await quota.delete_project("project")
    await claim.release()
    await quota.set_project("project", "other")
    assert (await quota.projects())["project"] == "other"
    await quota.claim("leaf", {"cores": 4})
    usage = await quota.usage()
    assert used(usage, "other")[2] == 4
    assert used(usage, "domain")[2] == 0
    await quota.delete_project("domain")
    assert "domain" not in await quota.projects()


async def test_recount_reports_drift_and_repairs_it(open_quota: OpenQuota) -> None:
    quota = await open_quota()
    await three_levels(quota, top=20)
    committed = await quota.claim("leaf", {"cores": 4})
    await committed.commit()
    await quota.claim("leaf", {"cores": 1})  # pending: a reservation, not drift

    def counter(project: str, resources: list[str]) -> dict[str, int]:
        return {"cores": 6 if project == "leaf" else 0}

    [drift] = await quota.recount(counter)
    assert (drift.project, drift.recorded, drift.counted, drift.delta, drift.repaired) == (
        "leaf",
        4,
        6,
        2,
        False,
    )
    assert used(await quota.usage(), "domain")[2] == 5

    async def async_counter(project: str, resources: list[str]) -> dict[str, int]:
        return counter(project, resources)

    [repaired] = await quota.recount(async_counter, repair=True)
    assert repaired.repaired
    usage = await quota.usage()
    assert used(usage, "leaf") == (7, 1, 7)
    assert used(usage, "domain")[2] == 7
    assert await quota.recount(counter) == []
    [down] = await quota.recount(lambda p, r: {"cores": 0}, projects=["leaf"], repair=True)
    assert (down.recorded, down.counted) == (6, 0)
    assert used(await quota.usage(), "leaf") == (1, 1, 1)


async def test_concurrent_claims_in_one_process_never_overshoot(open_quota: OpenQuota) -> None:
    quota = await open_quota()
    await three_levels(quota, top=10)

    async def one() -> bool:
        try:
            await quota.claim("leaf", {"cores": 1})
        except OverQuota:
            return False
        return True

    results = await asyncio.gather(*(one() for _ in range(30)))
    assert sum(results) == 10
    assert used(await quota.usage(), "domain")[2] == 10


async def _race(store_url: str, project: str, processes: int, each: int) -> list[str]:
    """``processes`` children making ``each`` concurrent claims of one core, started at once;
    the ids of the claims granted."""
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(CHILD),
            store_url,
            project,
            str(each),
            "60",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        for _ in range(processes)
    ]
    for child in children:
        assert child.stdout is not None
        assert json.loads(await child.stdout.readline())["event"] == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    granted: list[str] = []
    refused = 0
    for child in children:
        out, _ = await child.communicate()
        report = json.loads(out.splitlines()[-1])
        granted += report["granted"]
        refused += report["refused"]
        assert child.returncode == 0
    assert len(granted) + refused == processes * each
    return granted


@pytest.mark.parametrize("project", ["flat-project", "leaf"])
async def test_50_claims_from_5_processes_against_a_limit_of_10(
    open_quota: OpenQuota, store_url: str, project: str
) -> None:
    quota = await open_quota()
    if project == "leaf":  # the limit is the grandparent's: the leaf is refused because of it
        await three_levels(quota, top=10)
    else:
        await quota.set_default("cores", 10)
        await quota.set_project(project)
    granted = await _race(store_url, project, processes=5, each=10)
    assert len(granted) == 10
    usage = await quota.usage()
    top = "domain" if project == "leaf" else project
    assert used(usage, top)[2] == 10
    assert used(usage, project)[0] == 10
    for claim_id in granted:
        assert await quota.release(claim_id)
    usage = await quota.usage()
    assert all((e.used, e.reserved, e.subtree) == (0, 0, 0) for e in usage), usage


async def test_a_killed_claimer_s_reservation_is_freed_after_its_lease(
    open_quota: OpenQuota, store_url: str
) -> None:
    quota = await open_quota()
    await three_levels(quota, top=1)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        store_url,
        "leaf",
        "-1",
        "0.5",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    assert child.stdin is not None
    assert json.loads(await child.stdout.readline())["event"] == "ready"
    child.stdin.write(b"go\n")
    await child.stdin.drain()
    claimed = json.loads(await child.stdout.readline())
    assert claimed["event"] == "claimed"
    child.send_signal(signal.SIGKILL)
    await child.wait()
    # the store as it is (no sweep): the dead child's claim still holds its core
    assert [c.id for c in await quota.store.claims()] == [claimed["id"]]
    assert used(await quota.store.usage(), "domain") == (0, 0, 1)

    async def freed() -> bool:
        try:
            claim = await quota.claim("leaf", {"cores": 1})
        except OverQuota:
            return False
        await claim.commit()
        return True

    await eventually(freed, what="the killed child's core is given back")
    [left] = await quota.claims()
    assert left.id != claimed["id"]
    assert left.committed
    assert used(await quota.usage(), "domain")[2] == 1


async def test_quota_reopened_sees_the_same_state(open_quota: OpenQuota) -> None:
    first = await open_quota()
    await three_levels(first, top=3)
    claim = await first.claim("leaf", {"cores": 2})
    second = await open_quota()
    assert await second.projects() == {"domain": None, "project": "domain", "leaf": "project"}
    assert await second.limits() == {
        "domain": {"cores": 3},
        "project": {"cores": -1},
        "leaf": {"cores": -1},
    }
    assert await second.defaults() == {"cores": -1}
    await second.commit(claim.id)
    assert (await first.claims())[0].committed


def test_the_blocking_quota_runs_the_same_claims(store_url: str) -> None:
    from anker.limits import BlockingQuota

    with BlockingQuota.open(store_url, upgrade=True) as quota:
        quota.set_default("cores", 2)
        quota.set_project("p")
        with quota.claim("p", {"cores": 2}) as claim:
            pass
        assert claim.committed
        with pytest.raises(OverQuota):
            quota.claim("p", {"cores": 1})
        assert claim.release()
        assert not claim.release()
        assert [(e.project, e.used) for e in quota.usage("p")] == [("p", 0)]


async def test_a_release_after_a_recount_never_eats_into_reservations(
    open_quota: OpenQuota,
) -> None:
    quota = await open_quota()
    await three_levels(quota, top=10)
    committed = await quota.claim("leaf", {"cores": 1})
    await committed.commit()
    await quota.recount(lambda project, resources: {"cores": 0}, repair=True)  # it is gone
    await quota.claim("leaf", {"cores": 2})  # pending
    assert await committed.release()
    usage = await quota.usage()
    assert used(usage, "leaf") == (2, 2, 2)  # the committed usage stayed at 0, not -1
    assert used(usage, "domain")[2] == 2


async def test_the_store_answers_health_checks(open_quota: OpenQuota) -> None:
    from anker.health import Health, Status

    quota = await open_quota()
    health = Health(discover=False)
    (check,) = health.watch(quota)
    assert check.name == "limits:responseTime"
    report = await health.run("ready")
    assert report.status is Status.PASS, report
    (outcome,) = report.outcomes
    assert isinstance(outcome.result.observed_value, float)
    assert outcome.result.observed_unit == "ms"
