"""PostgreSQL group commit: claims of one process that wait together go in one transaction,
each with its own outcome, and batches of several processes never deadlock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest

from anker.limits import OverQuota, Quota, UnknownProject, UnknownResource
from limits_support import fresh_postgres
from servers import require_server

pytestmark = pytest.mark.integration


@pytest.fixture
def url() -> Iterator[str]:
    yield from fresh_postgres(require_server("postgresql"))


def transactions_of_claims(url: str) -> int:
    """How many transactions wrote the claims (each row's xmin is the transaction's id)."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(DISTINCT xmin::text) FROM anker_limits_claims"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_batch_gives_each_claim_its_own_outcome(url: str) -> None:
    async with await Quota.open(url, upgrade=True) as quota:
        await quota.set_default("cores", 100)
        await quota.set_project("small")
        await quota.set_project("big")
        await quota.set_limit("small", "cores", 5)

        async def claim(project: str, resources: dict[str, int]) -> str:
            try:
                await quota.claim(project, resources)
            except OverQuota:
                return "over"
            except UnknownProject:
                return "unknown-project"
            except UnknownResource:
                return "unknown-resource"
            return "granted"

        outcomes = await asyncio.gather(
            *(claim("small", {"cores": 1}) for _ in range(10)),
            *(claim("big", {"cores": 1}) for _ in range(10)),
            claim("nowhere", {"cores": 1}),
            claim("big", {"gpus": 1}),
        )
        assert outcomes[:10].count("granted") == 5
        assert outcomes[:10].count("over") == 5
        assert outcomes[10:20] == ["granted"] * 10
        assert outcomes[20:] == ["unknown-project", "unknown-resource"]
        usage = {(u.project, u.resource): (u.used, u.reserved) for u in await quota.usage()}
        assert usage[("small", "cores")] == (5, 5)
        assert usage[("big", "cores")] == (10, 10)
        assert len(await quota.claims()) == 15
    # the 15 granted claims went in fewer transactions than claims: they were batched
    assert transactions_of_claims(url) < 15


async def test_batches_of_several_quotas_on_crossing_paths_all_complete(url: str) -> None:
    """Four quotas (as four processes would) claim at once on projects whose paths cross
    (two trees, claims on leaves and roots): every batch locks its counters in one order, so
    none waits on another in a cycle, and the totals add up exactly."""
    quotas = [await Quota.open(url, upgrade=index == 0) for index in range(4)]
    try:
        first = quotas[0]
        await first.set_default("cores", 10**6)
        for root in ("r1", "r2"):
            await first.set_project(root)
            for leaf in ("a", "b", "c"):
                await first.set_project(f"{root}-{leaf}", parent=root)
        projects = ["r2-c", "r1-a", "r2", "r1-b", "r2-a", "r1", "r1-c", "r2-b"]

        async def claims(quota: Quota, offset: int) -> None:
            await asyncio.gather(
                *(
                    quota.claim(projects[(offset + n) % len(projects)], {"cores": 1})
                    for n in range(40)
                )
            )

        async with asyncio.timeout(60):  # a deadlock would be broken by the server after 1 s
            await asyncio.gather(*(claims(quota, index * 3) for index, quota in enumerate(quotas)))
        usage = {(u.project, u.resource): u for u in await first.usage()}
        assert sum(usage[(p, "cores")].used for p in projects) == 160
        assert usage[("r1", "cores")].subtree + usage[("r2", "cores")].subtree == 160
    finally:
        for quota in quotas:
            await quota.aclose()
