"""The metrics a service gets from the parts it uses: lock waits and holds, quota claims,
messages in flight and health check statuses (workflow runs: tests/integration/workflow)."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pytest

from anker._observe import listen, report
from anker.coordination import Coordinator
from anker.health import Check, Health, Result
from anker.limits import OverQuota, Quota
from anker.messaging import RequestContext, RPCClient, RPCServer, Target, connect
from anker.service import Service


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition ``text`` (labels in any order)."""
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if found == labels:
            return float(match.group(2))
    raise AssertionError(f"no sample {name}{labels} in:\n{text}")


async def test_locks_and_quota_claims_are_measured_while_the_service_runs(
    tmp_path: Path,
) -> None:
    service = Service("measured")
    metrics = service.metrics
    await service.start()
    async with (
        await Coordinator.connect(f"file://{tmp_path}", member_id="m1") as coordinator,
        await Quota.open(f"sqlite:///{tmp_path}/limits.db", upgrade=True) as quota,
    ):
        async with coordinator.lock("volume-1"):
            await asyncio.sleep(0.05)
        other = coordinator.lock("volume-2")
        async with coordinator.lock("volume-2"):
            assert not await other.acquire(timeout=0.01)
        await quota.set_default("cores", 4)
        await quota.set_project("p")
        await quota.claim("p", {"cores": 3})
        with pytest.raises(OverQuota):
            await quota.claim("p", {"cores": 3})
    text = metrics.exposition().decode()
    await service.stop()
    wait = "anker_lock_wait_seconds_count"
    assert sample(text, wait, kind="lock", backend="file", outcome="acquired") == 2
    assert sample(text, wait, kind="lock", backend="file", outcome="timeout") == 1
    assert sample(text, "anker_lock_hold_seconds_count", kind="lock", backend="file") == 2
    assert sample(text, "anker_lock_hold_seconds_sum", kind="lock", backend="file") >= 0.05
    claims = "anker_quota_claims_total"
    assert sample(text, claims, store="sqlite", outcome="granted") == 1
    assert sample(text, claims, store="sqlite", outcome="refused") == 1
    # stopped: measurements no longer reach this service's metrics
    report("quota.claim", 0.1, store="sqlite", outcome="granted")
    after = metrics.exposition().decode()
    assert sample(after, claims, store="sqlite", outcome="granted") == 1


async def test_messages_in_flight_and_health_statuses_are_read_at_each_scrape() -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    class Slow:
        async def work(self, context: RequestContext) -> str:
            entered.set()
            await release.wait()
            return "done"

    state = {"ok": True}

    async def flaky() -> Result:
        return Result.passed() if state["ok"] else Result.failed("down")

    health = Health(discover=False)
    health.add(Check("backend", flaky))
    async with await connect(f"memory://m{uuid.uuid4().hex[:8]}") as transport:
        service = Service("busy", health=health)
        service.add(RPCServer(transport, Target(topic="t", server="s"), [Slow()]), after=())
        metrics = service.metrics
        await service.start()
        call = asyncio.create_task(RPCClient(transport, Target(topic="t")).call(None, "work"))
        await entered.wait()
        await health.refresh()
        busy = metrics.exposition().decode()
        release.set()
        assert await call == "done"
        state["ok"] = False
        await health.refresh()
        idle = metrics.exposition().decode()
        await service.stop()
    (name,) = [line.split('"')[1] for line in busy.splitlines() if "messages_in_flight{" in line]
    assert sample(busy, "anker_messages_in_flight", component=name) == 1
    assert sample(idle, "anker_messages_in_flight", component=name) == 0
    assert sample(busy, "anker_health_check_status", check="backend") == 1
    assert sample(idle, "anker_health_check_status", check="backend") == 0


def test_a_failing_listener_is_logged_and_the_others_still_hear() -> None:
    heard: list[str] = []

    def broken(name: str, value: float, labels: dict[str, str]) -> None:
        raise RuntimeError("broken listener")

    stop_broken = listen(broken)
    stop_good = listen(lambda name, value, labels: heard.append(name))
    try:
        report("lock.wait", 0.1, kind="lock", backend="file", outcome="acquired")
    finally:
        stop_broken()
        stop_good()
    report("lock.wait", 0.1, kind="lock", backend="file", outcome="acquired")
    assert heard == ["lock.wait"]


async def test_workflow_runs_are_counted_by_end_state(tmp_path: Path) -> None:
    from anker.workflow import Engine, Retry, Task, TaskContext, Workflow

    async def ok(ctx: TaskContext) -> None:
        return None

    async def broken(ctx: TaskContext) -> None:
        raise RuntimeError("no")

    good = Workflow("good", Task("ok", ok))
    bad = Workflow("bad", Task("broken", broken, retry=Retry(attempts=1)))
    service = Service("measured")
    metrics = service.metrics
    await service.start()
    async with await Engine.open(
        f"sqlite:///{tmp_path}/wf.db", [good, bad], upgrade=True
    ) as engine:
        await engine.run(good)
        await engine.run(good)
        await engine.run(bad)
    text = metrics.exposition().decode()
    await service.stop()
    runs = "anker_workflow_runs_total"
    assert sample(text, runs, workflow="good", state="SUCCEEDED") == 2
    assert sample(text, runs, workflow="bad", state="REVERTED") == 1
    assert sample(text, "anker_workflow_run_duration_seconds_count", workflow="good") == 2
