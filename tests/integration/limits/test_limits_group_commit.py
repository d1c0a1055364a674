"""Group commit on the SQL stores: the claims of one process that wait together are checked in
order in one transaction, each with its own outcome and figures; a failed transaction fails
them all and applies nothing; a cancelled claimer's claim is never left applied."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from anker.limits import (
    OverQuota,
    Quota,
    StoreUnavailable,
    UnknownProject,
    UnknownResource,
)
from limits_support import fresh_postgres
from servers import require_server

SQL_STORES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.integration))


@pytest.fixture(params=SQL_STORES)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/limits.db"
    else:
        yield from fresh_postgres(require_server("postgresql"))


@pytest.fixture
async def quota(sql_url: str) -> AsyncIterator[Quota]:
    """domain (cores 6) > project (unlimited) > leaf (cores 4), and other under domain;
    ``ram`` registered with a default of 4, ``gpus`` not registered."""
    async with await Quota.open(sql_url, upgrade=True) as opened:
        await opened.set_default("cores", -1)
        await opened.set_default("ram", 4)
        await opened.set_project("domain")
        await opened.set_project("project", "domain")
        await opened.set_project("leaf", "project")
        await opened.set_project("other", "domain")
        await opened.set_limit("domain", "cores", 6)
        await opened.set_limit("leaf", "cores", 4)
        yield opened


def batch_sizes(quota: Quota) -> list[int]:
    """The sizes of the batches the store sends from now on (observed, not changed)."""
    store: Any = quota.store
    combiner = store.combiner
    sizes: list[int] = []
    send = combiner._send

    async def observed(batch: list[Any]) -> Any:
        sizes.append(len(batch))
        return await send(batch)

    combiner._send = observed
    return sizes


async def outcome(quota: Quota, project: str, resources: dict[str, int]) -> object:
    try:
        claim = await quota.claim(project, resources)
    except (OverQuota, UnknownProject, UnknownResource) as exc:
        return exc
    return claim


async def test_a_batch_checks_each_claim_in_order_against_what_the_earlier_ones_took(
    quota: Quota,
) -> None:
    sizes = batch_sizes(quota)
    outcomes = await asyncio.gather(
        outcome(quota, "leaf", {"cores": 3}),  # granted: leaf 3, domain 3
        outcome(quota, "leaf", {"cores": 2}),  # leaf: 3 + 2 > 4
        outcome(quota, "other", {"cores": 2}),  # granted: domain 5
        outcome(quota, "leaf", {"cores": 1}),  # granted: leaf 4, domain 6
        outcome(quota, "other", {"cores": 1}),  # domain: 6 + 1 > 6
        outcome(quota, "leaf", {"cores": 0, "ram": 0}),  # nothing asked: granted
        outcome(quota, "nowhere", {"cores": 1}),
        outcome(quota, "leaf", {"cores": 1, "gpus": 1}),  # unknown before over
        outcome(quota, "other", {"cores": 0, "ram": 5}),  # other's default: 0 + 5 > 4
        outcome(quota, "other", {"ram": 4}),  # granted: the refused 5 took nothing
    )
    assert sizes == [10]  # they waited together: one transaction
    granted = [o for o in outcomes if not isinstance(o, Exception)]
    assert [outcomes.index(o) for o in granted] == [0, 2, 3, 5, 9]

    def figures(index: int) -> tuple[object, ...]:
        error = outcomes[index]
        assert isinstance(error, OverQuota), error
        return (
            error.project,
            error.resource,
            error.requested,
            error.used,
            error.limit,
            error.binding,
        )

    assert figures(1) == ("leaf", "cores", 2, 3, 4, "leaf")
    assert figures(4) == ("other", "cores", 1, 6, 6, "domain")
    assert figures(8) == ("other", "ram", 5, 0, 4, "other")
    nowhere = outcomes[6]
    assert isinstance(nowhere, UnknownProject)
    assert nowhere.project == "nowhere"
    unknown = outcomes[7]
    assert isinstance(unknown, UnknownResource)
    assert (unknown.resource, unknown.project) == ("gpus", "leaf")

    usage = {(u.project, u.resource): (u.used, u.reserved, u.subtree) for u in await quota.usage()}
    assert usage[("leaf", "cores")] == (4, 4, 4)
    assert usage[("project", "cores")] == (0, 0, 4)
    assert usage[("other", "cores")] == (2, 2, 2)
    assert usage[("domain", "cores")] == (0, 0, 6)
    assert usage[("other", "ram")] == (4, 4, 4)
    assert usage[("domain", "ram")] == (0, 0, 4)
    assert len(await quota.claims()) == 5


async def test_a_failed_transaction_fails_every_claim_of_its_batch_and_applies_nothing(
    quota: Quota,
) -> None:
    store = quota.store
    await store.claim("taken", "leaf", {"cores": 1}, 60, "")
    before = await quota.usage()
    sizes = batch_sizes(quota)
    # the third claim reuses a claim id: its row breaks the claims' primary key
    results = await asyncio.gather(
        *(
            store.claim(claim_id, project, {"cores": 1}, 60, "")
            for claim_id, project in [
                ("a", "other"),
                ("b", "leaf"),
                ("taken", "other"),
                ("c", "leaf"),
            ]
        ),
        return_exceptions=True,
    )
    assert sizes == [4]
    assert all(isinstance(result, StoreUnavailable) for result in results), results
    error = results[0]
    assert isinstance(error, StoreUnavailable)
    assert "none was granted" in " ".join(getattr(error, "__notes__", []))
    assert await quota.usage() == before
    assert [claim.id for claim in await quota.claims()] == ["taken"]
    # the store goes on: the next batch is granted
    assert all(
        not isinstance(r, Exception)
        for r in await asyncio.gather(
            quota.claim("leaf", {"cores": 1}), quota.claim("other", {"cores": 1})
        )
    )


async def test_a_claimer_cancelled_before_its_batch_left_is_never_applied(quota: Quota) -> None:
    sizes = batch_sizes(quota)
    tasks = [asyncio.create_task(quota.claim("other", {"cores": 1})) for _ in range(4)]
    await asyncio.sleep(0)  # each task has queued its claim; the batch has not left yet
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert sizes == [3]
    usage = {(u.project, u.resource): u.used for u in await quota.usage()}
    assert usage[("other", "cores")] == 3
    assert len(await quota.claims()) == 3


@contextlib.contextmanager
def store_held(url: str) -> Iterator[None]:
    """The store's claim transactions wait while this holds it: SQLite's write lock, or
    the locks of every usage row on PostgreSQL."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite://"), isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
    else:
        import psycopg

        with psycopg.connect(url) as connection:
            connection.execute("SELECT 1 FROM anker_limits_usage FOR UPDATE")
            try:
                yield
            finally:
                connection.rollback()


async def test_a_claimer_cancelled_while_its_batch_is_on_its_way_leaves_nothing_applied(
    quota: Quota, sql_url: str
) -> None:
    await quota.claim("other", {"cores": 1})  # the counters exist, so they can be held
    await quota.release((await quota.claims())[0].id)
    sizes = batch_sizes(quota)
    with store_held(sql_url):
        tasks = [asyncio.create_task(quota.claim("other", {"cores": 1})) for _ in range(3)]
        await asyncio.sleep(0.5)  # the batch is on its way, waiting for the store
        assert sizes == [3]
        tasks[0].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError)
    kept = {claim.id for claim in done[1:] if not isinstance(claim, BaseException)}
    assert len(kept) == 2
    # the cancelled claimer's claim was granted with the batch, then given back
    store: Any = quota.store
    await store.combiner.wait()
    assert {claim.id for claim in await quota.claims()} == kept
    usage = {(u.project, u.resource): (u.used, u.reserved) for u in await quota.usage()}
    assert usage[("other", "cores")] == (2, 2)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from fresh_postgres(require_server("postgresql"))


@pytest.mark.integration
async def test_a_batch_whose_session_is_killed_is_run_again_and_applied_once(
    postgres_url: str,
) -> None:
    """PostgreSQL ends the session of a batch waiting for its counters' locks: the statement
    died with its session, so nothing of it was applied; the store runs the batch again on
    a new connection, and every claim of it is granted exactly once."""
    import psycopg

    url = postgres_url
    async with await Quota.open(url, upgrade=True) as quota:
        await quota.set_default("cores", 10)
        await quota.set_project("p")
        await quota.release((await quota.claim("p", {"cores": 1})).id)
        sizes = batch_sizes(quota)
        with psycopg.connect(url, autocommit=True) as watcher, store_held(url):
            tasks = [asyncio.create_task(quota.claim("p", {"cores": 1})) for _ in range(3)]
            waiting = None
            async with asyncio.timeout(10):
                while waiting is None:
                    await asyncio.sleep(0.05)
                    waiting = watcher.execute(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE '%anker_limits_claims%'"
                    ).fetchone()
            watcher.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
        claims = await asyncio.gather(*tasks)
        assert sizes == [3]
        assert len({claim.id for claim in claims}) == 3
        assert {claim.id for claim in await quota.claims()} == {c.id for c in claims}
        usage = {(u.project, u.resource): (u.used, u.reserved) for u in await quota.usage()}
        assert usage[("p", "cores")] == (3, 3)


async def test_a_flat_batch_checks_each_project_alone(sql_url: str) -> None:
    async with await Quota.open(sql_url, upgrade=True, model="flat") as quota:
        await quota.set_default("cores", -1)
        await quota.set_project("domain")
        await quota.set_project("leaf", "domain")
        await quota.set_limit("domain", "cores", 2)
        await quota.set_limit("leaf", "cores", 4)
        outcomes = await asyncio.gather(
            outcome(quota, "leaf", {"cores": 3}),  # the domain's 2 does not bind under flat
            outcome(quota, "leaf", {"cores": 2}),  # leaf: 3 + 2 > 4
            outcome(quota, "domain", {"cores": 2}),  # its own usage: 0 + 2 <= 2
            outcome(quota, "domain", {"cores": 1}),  # 2 + 1 > 2
            outcome(quota, "leaf", {"cores": 1}),
        )
        refused = [o for o in outcomes if isinstance(o, OverQuota)]
        assert [outcomes.index(o) for o in refused] == [1, 3]
        assert [(o.binding, o.used, o.limit) for o in refused] == [("leaf", 3, 4), ("domain", 2, 2)]
        usage = {(u.project, u.resource): (u.used, u.subtree) for u in await quota.usage()}
        assert usage[("leaf", "cores")] == (4, 4)
        assert usage[("domain", "cores")] == (2, 6)


@pytest.mark.integration
async def test_a_batch_sent_again_after_its_commit_is_answered_not_applied_twice(
    postgres_url: str,
) -> None:
    """The reply to a committed batch can be lost with its connection; the store then sends
    the batch again: its granted claims come back as granted, and nothing is added twice."""
    import json

    import psycopg

    async with await Quota.open(postgres_url, upgrade=True) as quota:
        await quota.set_default("cores", 3)
        await quota.set_project("p")
    batch = json.dumps(
        [
            {"id": f"c{n}", "project": "p", "resources": {"cores": 1}, "lease": 60, "note": ""}
            for n in range(5)
        ]
    )
    call = "SELECT anker_limits_claims(CAST(%s AS jsonb), 'hierarchical', %s)"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        first = connection.execute(call, (batch, False)).fetchone()
        again = connection.execute(call, (batch, True)).fetchone()
        usage = connection.execute(
            "SELECT used, reserved, subtree FROM anker_limits_usage WHERE project = 'p'"
        ).fetchone()
        held = connection.execute("SELECT count(*) FROM anker_limits_claims").fetchone()
    assert first is not None
    assert again is not None
    assert [o.get("error") for o in first[0]] == [None, None, None, "over", "over"]
    assert again[0][:3] == first[0][:3]  # the same claims, stamped as before
    assert [o["used"] for o in again[0][3:]] == [3, 3]  # still refused, against the same 3
    assert usage == (3, 3, 3)
    assert held == (3,)


async def test_a_batch_that_commits_after_its_claimers_were_told_it_failed_is_given_back(
    sql_url: str,
) -> None:
    """A store call cannot stop its thread: a claim transaction that outlives the store's
    timeout fails its claimers, then commits. Its claims must not stay reserved without an
    owner until their lease ends: they are given back as soon as the commit is seen."""
    import sqlalchemy as sa

    async with await Quota.open(sql_url, upgrade=True, timeout=0.2, lease=3600) as quota:
        await quota.set_default("cores", 10)
        await quota.set_project("p")
        store: Any = quota.store
        slowed: list[str] = []

        def slow(*event_args: object) -> None:
            # the claim batch's commit (SQLite) or its one autocommitted statement
            # (PostgreSQL, whose statement is the event's third argument) is held past the
            # store's bound of 3 x 0.2 s, once
            statement = str(event_args[2]) if len(event_args) > 2 else "commit"
            if not slowed and (statement == "commit" or "anker_limits_claims" in statement):
                slowed.append("claim")
                time.sleep(1.2)

        event = "commit" if sql_url.startswith("sqlite") else "after_cursor_execute"
        sa.event.listen(store.engine, event, slow)
        claims = [asyncio.create_task(quota.claim("p", {"cores": 2})) for _ in range(3)]
        failed = await asyncio.gather(*claims, return_exceptions=True)
        assert all(isinstance(error, StoreUnavailable) for error in failed), failed
        assert "no answer within 0.6 s" in str(failed[0])
        # the batch's thread ends, its commit gone through (the store's own wait is bounded)
        await asyncio.wait_for(asyncio.wait(set(store._threads)), timeout=10)
        await store.combiner.wait()  # and what it granted is given back
        sa.event.remove(store.engine, event, slow)
        assert slowed == ["claim"]
        assert await quota.claims() == []
        usage = {(u.project, u.resource): (u.used, u.reserved) for u in await quota.usage()}
        assert usage.get(("p", "cores"), (0, 0)) == (0, 0)
        # and the store goes on as before
        claim = await quota.claim("p", {"cores": 10})
        assert [c.id for c in await quota.claims()] == [claim.id]
