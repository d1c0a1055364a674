"""anker.health finds the parts a process opens: one check each in ``ready``, from the moment
a part is opened until it is closed, never twice, never keeping a dropped part alive."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from anker.coordination import Coordinator
from anker.db import create_async_engine, create_engine
from anker.health import Check, Health, Status, check_coordinator
from anker.limits import Quota
from anker.messaging import connect
from anker.secrets import KeyManager
from anker.secrets._master import generate_master_key_file
from waiting import eventually


def names(health: Health) -> set[str]:
    return {check.name for check in health.checks("ready")}


async def statuses(health: Health) -> dict[str, Status]:
    report = await health.run("ready")
    return {outcome.name: outcome.result.status for outcome in report.outcomes}


async def test_an_opened_coordinator_is_checked_until_it_is_closed(tmp_path: Path) -> None:
    gc.collect()  # parts other tests dropped without closing
    health = Health()
    before = names(health)
    coordinator = await Coordinator.connect(f"sqlite://{tmp_path}/coord.db")
    try:
        (added,) = names(health) - before
        assert added.startswith("coordination")
        assert added.endswith(":responseTime")
        assert (await statuses(health))[added] is Status.PASS
        (check,) = [c for c in health.checks("ready") if c.name == added]
        assert check.component_type == "datastore"
        assert health.checks("live") == [c for c in health.checks("live") if c.name != added]
    finally:
        await coordinator.aclose()
    assert added not in names(health)
    assert added not in await statuses(health)


async def test_a_part_registered_by_hand_is_not_checked_twice(tmp_path: Path) -> None:
    health = Health()
    async with await Coordinator.connect(f"sqlite://{tmp_path}/coord.db") as coordinator:
        before = names(health)
        health.add(check_coordinator(coordinator, "locks"))
        assert names(health) - before == {"locks:responseTime"}
        # the discovered check of this coordinator went when the hand-made one came
        discovered = {n for n in before if n.startswith("coordination")}
        remaining = {n for n in names(health) if n.startswith("coordination")}
        assert len(remaining) == len(discovered) - 1


async def test_two_transports_get_two_names_and_are_components() -> None:
    gc.collect()
    health = Health()
    before = names(health)
    async with await connect("memory://") as first, await connect("memory://") as second:
        assert first is not second
        added = names(health) - before
        assert len(added) == 2
        assert all(name.startswith("messaging") for name in added)
        assert {c.component_type for c in health.checks("ready") if c.name in added} == {
            "component"
        }
        assert all(
            status is Status.PASS for n, status in (await statuses(health)).items() if n in added
        )
    assert not added & names(health)


async def test_a_name_taken_by_a_check_of_the_service_is_left_to_it(tmp_path: Path) -> None:
    async def mine() -> None:
        return None

    health = Health()
    health.add(Check("coordination:responseTime", mine, "datastore"))
    async with await Coordinator.connect(f"sqlite://{tmp_path}/coord.db"):
        found = names(health)
        assert "coordination:responseTime" in found
        assert any(name.startswith("coordination-") for name in found)
        (own,) = [c for c in health.checks("ready") if c.name == "coordination:responseTime"]
        assert own.function is mine


async def test_engines_of_anker_db_are_checked_and_dropped_engines_are_not_kept(
    tmp_path: Path,
) -> None:
    gc.collect()
    health = Health()
    before = names(health)
    engine = create_engine(f"sqlite://{tmp_path}/app.db")
    async_engine = create_async_engine(f"sqlite://{tmp_path}/app.db")
    added = names(health) - before
    assert len(added) == 2
    assert all(name.startswith("database") for name in added)
    found = await statuses(health)
    assert [found[name] for name in sorted(added)] == [Status.PASS, Status.PASS]
    await async_engine.dispose()
    engine.dispose()

    dropped = weakref.ref(engine)
    del engine, async_engine

    def collected() -> bool:
        gc.collect()
        return dropped() is None

    # the registry's checks do not keep it alive (the probe's thread does, until it has ended)
    await eventually(collected, what="the dropped engine is collected")
    assert not added & names(health)


async def test_a_quota_store_is_one_check_not_two(tmp_path: Path) -> None:
    gc.collect()
    health = Health()
    before = names(health)
    async with await Quota.open(f"sqlite://{tmp_path}/limits.db", upgrade=True):
        added = names(health) - before
        assert len(added) == 1, added  # the store's engine is not checked apart from it
        (name,) = added
        assert name.startswith("limits")
        assert (await statuses(health))[name] is Status.PASS
    assert name not in names(health)


async def test_a_key_manager_is_checked(tmp_path: Path) -> None:
    gc.collect()
    health = Health()
    before = names(health)
    generate_master_key_file(str(tmp_path / "key"))
    async with await KeyManager.initialize(
        f"local://{tmp_path}/store?master_key_file={tmp_path}/key"
    ):
        added = names(health) - before
        assert len(added) == 1
        assert next(iter(added)).startswith("secrets")


async def test_discover_false_checks_only_what_is_registered(tmp_path: Path) -> None:
    health = Health(discover=False)
    async with await Coordinator.connect(f"sqlite://{tmp_path}/coord.db"):
        assert health.checks() == []
        assert (await health.run("ready")).outcomes == ()


async def test_a_workflow_engine_s_store_is_one_check(tmp_path: Path) -> None:
    from anker.health import check_for
    from anker.workflow import Engine

    gc.collect()
    health = Health()
    before = names(health)
    async with await Engine.open(f"sqlite://{tmp_path}/runs.db", [], upgrade=True) as engine:
        added = names(health) - before
        assert len(added) == 1, added  # the store's engine is not checked apart from it
        (name,) = added
        assert name.startswith("workflow")
        assert (await statuses(health))[name] is Status.PASS
        own = Health(discover=False)
        own.add(check_for(engine))
        assert [c.name for c in own.checks()] == ["workflow:responseTime"]
        assert (await own.run("ready")).status is Status.PASS
    assert name not in names(health)
