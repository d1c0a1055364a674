"""The limits model without a server: which level binds under each model, and bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anker.errors import InvalidOption
from anker.limits import OverQuota, Quota
from anker.limits._model import Level, binding_level

LEVELS = [Level("leaf", 1, 1, 5), Level("project", 0, 3, -1), Level("domain", 2, 9, 10)]


def test_flat_checks_only_the_project_s_own_usage() -> None:
    assert binding_level("flat", LEVELS, 4) is None
    refused = binding_level("flat", LEVELS, 5)
    assert refused is not None
    assert (refused[0].project, refused[1]) == ("leaf", 1)


@pytest.mark.parametrize("model", ["hierarchical", "strict-two-level"])
def test_tree_models_check_every_level_s_subtree(model: str) -> None:
    assert binding_level(model, LEVELS, 1) is None
    refused = binding_level(model, LEVELS, 2)  # the domain: 9 + 2 > 10
    assert refused is not None
    assert (refused[0].project, refused[1], refused[0].limit) == ("domain", 9, 10)
    assert binding_level(model, LEVELS, 0) is None  # asking for nothing never binds


def test_unlimited_levels_never_bind() -> None:
    assert binding_level("hierarchical", [Level("p", 10**15, 10**15, -1)], 10**15) is None


@pytest.fixture
async def quota(tmp_path: Path) -> AsyncIterator[Quota]:
    opened = await Quota.open(f"sqlite://{tmp_path}/limits.db", upgrade=True)
    await opened.set_default("cores", 4)
    await opened.set_project("p")
    yield opened
    await opened.aclose()


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({}, "at least one resource"),
        ({"cores": -1}, "not a whole number from 0 to"),
        ({"cores": 1.5}, "not a whole number from 0 to"),
        ({"cores": True}, "not a whole number from 0 to"),
        ({"cores": 2**53}, "not a whole number from 0 to 9007199254740991"),
        ({"": 1}, "resource name ''"),
        ({"x" * 256: 1}, "at most 255"),
    ],
)
async def test_bad_claims_are_named(quota: Quota, resources: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await quota.claim("p", resources)


async def test_bad_limits_leases_and_names_are_named(quota: Quota) -> None:
    with pytest.raises(ValueError, match=r"limit of 'cores': -2"):
        await quota.set_limit("p", "cores", -2)
    with pytest.raises(ValueError, match="limit of 'cores'"):
        await quota.set_default("cores", "10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lease"):
        await quota.claim("p", {"cores": 1}, lease=0)
    # past 2**53 - 1 a store cannot hold it exactly (Redis) or at all (SQLite overflowed)
    with pytest.raises(ValueError, match="from 0 to 9007199254740991"):
        await quota.set_limit("p", "cores", 2**63)
    with pytest.raises(ValueError, match="from 0 to 9007199254740991"):
        await quota.set_default("cores", 2**53)
    await quota.set_limit("p", "cores", 2**53 - 1)
    with pytest.raises(ValueError, match="recount of 'cores' in 'p'"):
        await quota.recount(lambda project, resources: {"cores": 2**53})
    with pytest.raises(ValueError, match="project name ' p'"):
        await quota.set_project(" p")


async def test_over_quota_says_which_ancestor_binds(quota: Quota) -> None:
    await quota.set_project("child", "p")
    await quota.set_limit("child", "cores", -1)
    await quota.claim("child", {"cores": 3})
    with pytest.raises(OverQuota) as refused:
        await quota.claim("child", {"cores": 2})
    assert str(refused.value) == (
        "project 'child': its ancestor 'p' would exceed its limit of 'cores': "
        "3 used + 2 requested > 4"
    )


async def test_unknown_models_and_options_are_refused_before_anything_opens(
    tmp_path: Path,
) -> None:
    with pytest.raises(InvalidOption, match="model"):
        await Quota.open(f"sqlite://{tmp_path}/x.db", model="tree")
    with pytest.raises(InvalidOption, match="leese"):
        await Quota.open(f"sqlite://{tmp_path}/x.db?leese=5s")
    with pytest.raises(InvalidOption, match="synchronous"):
        await Quota.open(f"sqlite://{tmp_path}/x.db?synchronous=sometimes")
    assert not await asyncio.to_thread(lambda: list(tmp_path.iterdir()))


async def test_claims_from_many_tasks_never_overshoot_and_repr_is_readable(
    quota: Quota,
) -> None:
    async def one() -> bool:
        try:
            claim = await quota.claim("p", {"cores": 1})
        except OverQuota:
            return False
        assert repr(claim).startswith(f"<Claim {claim.id} 'p' cores=1 pending")
        return True

    assert sum(await asyncio.gather(*(one() for _ in range(12)))) == 4
    assert "model=hierarchical" in repr(quota)


async def test_a_counter_that_gives_none_leaves_the_resource_alone(tmp_path: Path) -> None:
    async with await Quota.open(f"sqlite://{tmp_path}/l.db", upgrade=True) as quota:
        await quota.set_default("cores", 9)
        await quota.set_default("ram", 9)
        await quota.set_project("p")
        await (await quota.claim("p", {"cores": 1, "ram": 2})).commit()
        drifts = await quota.recount(lambda p, r: {"cores": None}, repair=True)
        assert [(d.resource, d.counted) for d in drifts] == [("ram", 0)]  # left out: 0
        assert {u.resource: u.used for u in await quota.usage("p")} == {"cores": 1, "ram": 0}
