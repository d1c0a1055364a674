"""anker.health's registry: groups, timeouts, concurrency, cache, refresher, maintenance."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from anker.coordination import Coordinator
from anker.errors import Unavailable
from anker.health import (
    Check,
    Health,
    Result,
    Status,
    check_coordinator,
    check_disk,
    check_engine,
    check_event_loop,
    check_transport,
)
from anker.messaging import connect
from waiting import eventually


def counting(result: Result | None = None) -> tuple[Check, list[float]]:
    calls: list[float] = []

    async def run() -> Result | None:
        calls.append(time.monotonic())
        return result

    return Check("counted:calls", run), calls


def test_worst_status() -> None:
    assert Status.worst([]) is Status.PASS
    assert Status.worst([Status.PASS, Status.WARN]) is Status.WARN
    assert Status.worst([Status.WARN, Status.FAIL, Status.PASS]) is Status.FAIL


@pytest.mark.parametrize(
    ("name", "groups"),
    [("bad name", {"ready"}), ("a:b:c", {"ready"}), ("ok:name", set()), ("ok", {"All"})],
)
def test_bad_checks_are_refused_with_their_name(name: str, groups: set[str]) -> None:
    async def run() -> None:
        return None

    with pytest.raises(ValueError, match="health check"):
        Check(name, run, groups=frozenset(groups))


def test_a_name_registers_once() -> None:
    health = Health(discover=False)
    check, _ = counting()
    health.add(check)
    with pytest.raises(ValueError, match="already registered"):
        health.add(check)


async def test_groups_select_checks_and_exclude_leaves_them_out() -> None:
    health = Health(discover=False)

    async def ok() -> None:
        return None

    health.add(Check("loop:lag", ok, "system", frozenset({"live"})))
    health.add(Check("db:responseTime", ok, "datastore"))
    health.add(Check("cache:responseTime", ok, "datastore", frozenset({"ready", "warmup"})))
    assert [o.name for o in (await health.run("live")).outcomes] == ["loop:lag"]
    ready = await health.run("ready", exclude=["db:responseTime"])
    assert [o.name for o in ready.outcomes] == ["cache:responseTime"]
    assert [o.name for o in (await health.run("warmup")).outcomes] == ["cache:responseTime"]
    everything = await health.run()
    assert everything.group == "all"
    assert len(everything.outcomes) == 3
    assert "warmup" in health.groups()


async def test_a_slow_check_fails_with_its_timeout_and_does_not_hold_the_answer() -> None:
    health = Health(timeout=0.05, discover=False)
    released = asyncio.Event()  # never set: the check would wait forever
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await released.wait()
        finally:
            cancelled.set()

    health.add(Check("slow:responseTime", stuck, "datastore"))
    report = await health.run("ready")
    assert report.status is Status.FAIL
    assert report.outcomes[0].result.output == "timed out after 50 ms"
    assert cancelled.is_set()
    assert not released.is_set()


async def test_checks_run_concurrently() -> None:
    health = Health(timeout=30, discover=False)
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    def waiting_for(me: str, other: str) -> Check:
        async def run() -> None:
            started[me].set()
            await started[other].wait()  # deadlocks (then times out) if run one by one

        return Check(f"{me}:x", run)

    health.add(waiting_for("a", "b"))
    health.add(waiting_for("b", "a"))
    report = await asyncio.wait_for(health.run("ready"), timeout=20)
    assert report.status is Status.PASS


async def test_a_probe_storm_runs_each_check_once_per_ttl() -> None:
    health = Health(ttl=60, discover=False)
    gate = asyncio.Event()
    calls = 0

    async def run() -> None:
        nonlocal calls
        calls += 1
        await gate.wait()

    health.add(Check("db:responseTime", run, "datastore"))
    storm = [asyncio.ensure_future(health.run("ready")) for _ in range(200)]
    await asyncio.sleep(0)
    gate.set()
    reports = await asyncio.gather(*storm)
    assert {r.status for r in reports} == {Status.PASS}
    for _ in range(50):
        await health.run("ready")
    assert calls == 1


async def test_a_stale_result_runs_again() -> None:
    health = Health(ttl=0.001, discover=False)
    check, calls = counting()
    health.add(check)
    await health.run("ready")
    ran = calls[0]
    await eventually(lambda: time.monotonic() - ran > 0.001, what="the result to age")
    await health.run("ready")
    assert len(calls) == 2


async def test_the_refresher_runs_checks_until_the_registry_closes() -> None:
    health = Health(interval=0.01, ttl=60, discover=False)
    check, calls = counting()
    health.add(check)
    async with health:
        assert len(calls) == 1  # start() ran every check once
        await eventually(lambda: len(calls) >= 4, what="three refreshes")
        refresher = health._refresher
        assert refresher is not None
    assert refresher.done()
    seen = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == seen


async def test_errors_become_fail_with_a_safe_output() -> None:
    health = Health(discover=False)

    async def down() -> None:
        raise Unavailable("redis://:hunter2@cache.internal:6379", "probe", "refused")

    async def broken() -> None:
        raise RuntimeError("https://admin:hunter2@db.internal/ exploded")

    async def wrong() -> object:
        return "yes"

    health.add(Check("cache:responseTime", down, "datastore"))
    health.add(Check("db:responseTime", broken, "datastore"))
    health.add(Check("odd:value", wrong))  # type: ignore[arg-type]
    outputs = {o.name: o.result for o in (await health.run("ready")).outcomes}
    assert outputs["cache:responseTime"].output == "backend unavailable"
    assert outputs["db:responseTime"].output == "the check raised an error"
    assert outputs["odd:value"].output == "the check returned no Result"
    assert "hunter2" not in outputs["db:responseTime"].detail
    assert "RuntimeError" in outputs["db:responseTime"].detail


async def test_maintenance_file_fails_ready_but_not_live(tmp_path: Path) -> None:
    flag = tmp_path / "maintenance"
    health = Health(maintenance_file=flag, discover=False)
    health.add(check_event_loop())
    assert (await health.run("ready")).status is Status.PASS
    flag.write_text("kernel upgrade\nsecond line\n")
    ready = await health.run("ready")
    assert ready.status is Status.FAIL
    assert ready.outcomes[0].name == "maintenance"
    assert ready.outcomes[0].result.output == "maintenance: kernel upgrade"
    assert (await health.run("live")).status is Status.PASS
    flag.unlink()
    assert (await health.run("ready")).status is Status.PASS


async def test_event_loop_lag_sees_a_blocked_loop() -> None:
    health = Health(timeout=30, discover=False)
    health.add(check_event_loop(warn=0.05, fail=30))

    async def block() -> None:
        # checks start in name order: this callback is queued before the lag check's own
        asyncio.get_running_loop().call_soon(time.sleep, 0.06)

    health.add(Check("a:block", block, "system", frozenset({"live"})))
    report = await health.run("live")
    result = report.outcomes[1].result
    assert result.status is Status.WARN
    assert result.observed_unit == "ms"
    assert isinstance(result.observed_value, float)
    assert result.observed_value >= 60
    assert (await Health(discover=False).run("live")).status is Status.PASS


async def test_disk_space(tmp_path: Path) -> None:
    health = Health(discover=False)
    health.add(check_disk(tmp_path, min_free=1, warn_free=1))
    health.add(check_disk(tmp_path, min_free=1 << 62, name="huge:free"))
    results = {o.name: o.result for o in (await health.run("ready")).outcomes}
    assert results["disk:free"].status is Status.PASS
    assert results["disk:free"].observed_unit == "MiB"
    assert results["huge:free"].status is Status.FAIL
    assert results["huge:free"].output == "the disk is full"
    assert str(tmp_path) not in repr(results)


async def test_transport_check_follows_the_transport() -> None:
    transport = await connect("memory://health-test")
    health = Health(ttl=0.0001, discover=False)
    health.add(check_transport(transport))
    report = await health.run("ready")
    assert report.status is Status.PASS
    assert report.outcomes[0].name == "messaging:responseTime"
    assert report.outcomes[0].component_type == "component"
    await transport.aclose()
    await asyncio.sleep(0.001)
    report = await health.run("ready")
    assert report.status is Status.FAIL
    assert report.outcomes[0].result.output == "messaging transport unavailable"


async def test_coordinator_check_on_sqlite(tmp_path: Path) -> None:
    async with await Coordinator.connect(f"sqlite:///{tmp_path}/coord.db") as coordinator:
        health = Health(discover=False)
        health.add(check_coordinator(coordinator))
        report = await health.run("ready")
        assert report.status is Status.PASS, report
        assert report.outcomes[0].result.observed_unit == "ms"


async def test_engine_check_sync_and_async(tmp_path: Path) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.ext.asyncio import create_async_engine

    good = create_engine(f"sqlite:///{tmp_path}/ok.db")
    missing = create_engine(f"sqlite:///{tmp_path}/no/such/folder/db.sqlite")
    good_async = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/ok.db")
    health = Health(discover=False)
    health.add(check_engine(good, "main"))
    health.add(check_engine(missing, "gone"))
    health.add(check_engine(good_async, "async"))
    try:
        results = {o.name: o.result for o in (await health.run("ready")).outcomes}
    finally:
        good.dispose()
        missing.dispose()
        await good_async.dispose()
    assert results["main:responseTime"].status is Status.PASS
    assert results["async:responseTime"].status is Status.PASS
    assert results["gone:responseTime"].status is Status.FAIL
    assert results["gone:responseTime"].output == "database unavailable"
    assert "OperationalError" in results["gone:responseTime"].detail


async def test_watch_registers_the_check_of_each_part(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path}/app.db")
    transport = await connect("memory://watched")
    async with await Coordinator.connect(f"sqlite:///{tmp_path}/coord.db") as coordinator:
        health = Health(discover=False)
        made = health.watch(coordinator, transport, engine)
        assert [c.name for c in made] == [
            "coordination:responseTime",
            "messaging:responseTime",
            "database:responseTime",
        ]
        assert (await health.run("ready")).status is Status.PASS
        with pytest.raises(ValueError, match="name them"):
            health.watch(coordinator)
        with pytest.raises(TypeError, match="no built-in health check for object"):
            health.watch(object())
    await transport.aclose()
    engine.dispose()


async def test_cached_reads_only_fresh_results(tmp_path: Path) -> None:
    flag = tmp_path / "maintenance"
    health = Health(ttl=60, maintenance_file=flag, discover=False)
    check, calls = counting(Result.warned("slow", 900, "ms"))
    health.add(check)
    assert health.cached("ready") is None  # never ran: the caller must run it
    await health.run("ready")
    report = health.cached("ready")
    assert report is not None
    assert report.status is Status.WARN
    excluded = health.cached("ready", exclude=["counted:calls"])
    assert excluded is not None
    assert (excluded.status, excluded.outcomes) == (Status.PASS, ())
    flag.write_text("")
    maintenance = health.cached("ready")
    assert maintenance is not None
    assert maintenance.status is Status.FAIL
    assert len(calls) == 1
    health.ttl = 0.0  # everything is stale now
    await eventually(lambda: health.cached("ready") is None, what="the result to age")
