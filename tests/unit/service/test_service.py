"""The service in-process: composition order, periodic tasks, leader-only runs, logs, metrics."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anker import Secret
from anker.coordination import Coordinator
from anker.messaging import RequestContext, RPCClient, RPCServer, Target, connect
from anker.service import (
    ExitCode,
    PeriodicTask,
    Service,
    State,
    configure_logging,
    log_context,
)
from waiting import eventually


class Recorder:
    """A component that writes what happens to it into a shared journal."""

    def __init__(self, name: str, journal: list[str], *, work: float = 0.0) -> None:
        self.name = name
        self.journal = journal
        self.work = work
        self.busy = False

    async def start(self) -> None:
        self.journal.append(f"start {self.name}")

    async def drain(self, deadline: float) -> None:
        self.journal.append(f"drain {self.name}")
        if self.work:
            self.busy = True
            await asyncio.sleep(self.work)
            self.busy = False
            self.journal.append(f"drained {self.name}")

    def in_flight(self) -> list[str]:
        return [f"work of {self.name}"] if self.busy else []

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")


async def test_components_start_in_dependency_order_and_stop_in_reverse() -> None:
    journal: list[str] = []
    service = Service("ordered")
    service.add(Recorder("api", journal), after=["rpc"])
    service.add(Recorder("db", journal))
    service.add(Recorder("rpc", journal), after=["db"])
    assert [c.name for c in service.components] == ["db", "rpc", "api"]
    await service.start()
    assert service.state is State.RUNNING
    assert await service.stop() is ExitCode.OK
    assert journal == [
        "start db", "start rpc", "start api",
        "drain api", "drain rpc", "drain db",
        "stop api", "stop rpc", "stop db",
    ]  # fmt: skip
    assert service.state is State.STOPPED


def test_bad_dependencies_are_refused() -> None:
    service = Service("bad")
    journal: list[str] = []
    service.add(Recorder("a", journal), after=["b"])
    service.add(Recorder("b", journal), after=["a"])
    with pytest.raises(ValueError, match="cycle"):
        _ = service.components
    with pytest.raises(ValueError, match="already"):
        service.add(Recorder("a", journal))
    other = Service("missing")
    other.add(Recorder("a", journal), after=["nobody"])
    with pytest.raises(ValueError, match="'nobody', which is not a component"):
        _ = other.components
    with pytest.raises(TypeError, match="not a component"):
        other.add(object())


async def test_a_failed_start_stops_what_started_in_reverse() -> None:
    journal: list[str] = []

    class Broken(Recorder):
        async def start(self) -> None:
            raise RuntimeError("no")

    service = Service("broken")
    service.add(Recorder("a", journal))
    service.add(Recorder("b", journal))
    service.add(Broken("c", journal))
    with pytest.raises(RuntimeError, match="no"):
        await service.start()
    assert journal == ["start a", "start b", "stop b", "stop a"]
    assert service.state is State.STOPPED


async def test_a_signal_during_start_is_no_failure_to_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal: list[str] = []
    starting = asyncio.Event()

    class Slow(Recorder):
        async def start(self) -> None:
            starting.set()
            await asyncio.sleep(60)

    service = Service("slow")
    service.add(Recorder("a", journal))
    service.add(Slow("b", journal))
    serving = asyncio.ensure_future(service.serve())
    await starting.wait()
    caplog.set_level(logging.INFO, logger="anker.service")
    os.kill(os.getpid(), signal.SIGTERM)  # serve()'s handler takes it, as anker run's does
    assert await serving is ExitCode.OK
    assert journal == ["start a", "stop a"]
    assert "slow: start of b interrupted" in caplog.messages
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_the_drain_deadline_abandons_and_names_the_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal: list[str] = []
    service = Service("slow")
    service.add(Recorder("quick", journal))
    service.add(Recorder("slow", journal, work=600))
    await service.start()
    assert await service.stop(deadline=0.1) is ExitCode.DEADLINE
    assert "drained slow" not in journal
    assert journal[-2:] == ["stop slow", "stop quick"]
    assert "abandoned: work of slow" in caplog.text


async def test_a_second_request_to_stop_forces_it() -> None:
    journal: list[str] = []
    service = Service("forced", drain_deadline=600)
    service.add(Recorder("slow", journal, work=600))
    await service.start()
    service.request_stop()
    stopping = asyncio.ensure_future(service.stop())
    await eventually(lambda: "drain slow" in journal)
    service.request_stop()
    assert await stopping is ExitCode.FORCED


async def test_periodic_runs_never_overlap_and_overruns_are_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = most = 0

    async def slow() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.15)
        running -= 1

    service = Service("periodic")
    task = service.add(PeriodicTask(slow, interval=0.05, name="slow"))
    assert isinstance(task, PeriodicTask)
    await service.start()
    await eventually(lambda: task.runs >= 3, what="three runs")
    assert await service.stop() is ExitCode.OK
    assert most == 1
    assert task.overruns >= 3
    assert "periodic task slow took" in caplog.text
    assert "longer than its 0.05 s" in caplog.text


async def test_a_failing_run_is_logged_and_the_schedule_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = Service("failing")
    calls = 0

    @service.periodic(interval=0.02, immediately=True)
    def fails() -> None:  # a plain function: run in a thread
        nonlocal calls
        calls += 1
        raise ValueError("boom")

    await service.start()
    await eventually(lambda: fails.failures >= 2)
    await service.stop()
    assert calls >= 2
    assert "periodic task fails failed" in caplog.text


async def test_draining_waits_for_a_run_in_progress_and_idle_it_ends_at_once() -> None:
    finished = asyncio.Event()
    started = asyncio.Event()

    async def job() -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.set()

    service = Service("draining")
    service.add(PeriodicTask(job, interval=3600, immediately=True, name="job"))
    await service.start()
    await started.wait()
    assert await service.stop() is ExitCode.OK
    assert finished.is_set()

    idle = Service("idle")
    idle.add(PeriodicTask(job, interval=3600, name="job"))
    await idle.start()
    assert await asyncio.wait_for(idle.stop(), 30) is ExitCode.OK


def test_a_periodic_task_needs_one_valid_schedule() -> None:
    async def job() -> None:
        return None

    with pytest.raises(ValueError, match="interval or a cron"):
        PeriodicTask(job)
    with pytest.raises(ValueError, match="interval or a cron"):
        PeriodicTask(job, interval=1, cron="* * * * *")
    with pytest.raises(ValueError, match="not a cron schedule"):
        PeriodicTask(job, cron="every now and then")
    with pytest.raises(ValueError, match="> 0"):
        PeriodicTask(job, interval=0)
    assert "*/5 * * * *" in repr(PeriodicTask(job, cron="*/5 * * * *", name="cron"))
    assert PeriodicTask(job, interval=1).name == "job"


async def test_a_leader_only_task_needs_a_name_an_election_can_have(tmp_path: Path) -> None:
    from anker.coordination import InvalidName

    async def job() -> None:
        return None

    async with await Coordinator.connect(f"file://{tmp_path}") as coordinator:
        with pytest.raises(InvalidName, match="not allowed"):
            PeriodicTask(job, interval=1, leader=coordinator, name="clean up/old")


async def test_a_leader_only_task_runs_on_one_instance_and_another_takes_over(
    tmp_path: Path,
) -> None:
    url = f"file://{tmp_path}"
    counts = {"a": 0, "b": 0}

    def make(member: str, coordinator: Coordinator) -> tuple[Service, PeriodicTask]:
        async def job() -> None:
            counts[member] += 1

        service = Service(member)
        task = service.add(PeriodicTask(job, interval=0.05, leader=coordinator, name="sweep"))
        assert isinstance(task, PeriodicTask)
        return service, task

    async with (
        await Coordinator.connect(url, member_id="a", lease=5) as first,
        await Coordinator.connect(url, member_id="b", lease=5) as second,
    ):
        service_a, _ = make("a", first)
        service_b, task_b = make("b", second)
        await service_a.start()
        await eventually(lambda: counts["a"] >= 2, what="the first instance leads")
        await service_b.start()
        await eventually(lambda: task_b.skipped >= 3, what="the second one skips")
        assert counts["b"] == 0
        await service_a.stop()  # resigns: the other takes over
        before = counts["a"]
        await eventually(lambda: counts["b"] >= 2, what="the second one takes over")
        assert counts["a"] == before
        await service_b.stop()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(format="json", level="DEBUG", stream=stream, secrets=["hunter2"])
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_json_logs_carry_the_rpc_request_ids_and_mask_secrets(
    log_stream: io.StringIO,
) -> None:
    log = logging.getLogger("test.endpoint")

    class Endpoint:
        async def hello(self, context: RequestContext) -> str:
            log.info("async call, password hunter2, url rabbit://u:pw@host/")
            return "ok"

        def sync_hello(self, context: RequestContext) -> str:
            log.info("sync call")
            return "ok"

    url = f"memory://s{uuid.uuid4().hex[:8]}"
    async with await connect(url) as transport:
        server = RPCServer(transport, Target(topic="t", server="s"), [Endpoint()])
        async with server:
            client = RPCClient(transport, Target(topic="t"), timeout=30)
            context = RequestContext(request_id="req-1", project_id="p-1")
            assert await client.call(context, "hello") == "ok"
            assert await client.call(context, "sync_hello") == "ok"
    with log_context(request_id="req-http"):
        log.warning("outside RPC")
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    calls = [line for line in lines if line["logger"] == "test.endpoint"]
    assert [(c["message"].split(",")[0], c["request_id"], c.get("project_id")) for c in calls] == [
        ("async call", "req-1", "p-1"),
        ("sync call", "req-1", "p-1"),
        ("outside RPC", "req-http", None),
    ]
    assert "hunter2" not in log_stream.getvalue()
    assert ":pw@" not in log_stream.getvalue()
    assert "password ****, url rabbit://u:****@host/" in calls[0]["message"]


def test_text_logs_are_readable_and_masked() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(stream=stream, secrets=[Secret("s3cret")])
    try:
        with log_context(request_id="req-9", project_id="p-9"):
            logging.getLogger("test.text").error("token s3cret refused")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    line = stream.getvalue()
    assert "ERROR test.text [req-9 project=p-9] token **** refused" in line
    with pytest.raises(ValueError, match="log format"):
        configure_logging(format="xml")  # type: ignore[arg-type]


async def test_metrics_count_runs_and_show_the_state() -> None:
    service = Service("measured")
    metrics = service.metrics

    @service.periodic(interval=0.02, immediately=True)
    async def tick() -> None:
        return None

    await service.start()
    await eventually(lambda: tick.runs >= 2)
    text = metrics.exposition().decode()
    assert 'anker_service_state{state="running"} 1.0' in text
    assert 'anker_periodic_runs_total{outcome="ok",task="tick"}' in text
    assert 'anker_periodic_run_duration_seconds_count{task="tick"}' in text
    await service.stop()
    assert 'anker_service_state{state="stopped"} 1.0' in metrics.exposition().decode()


async def test_a_cron_task_runs_on_its_schedule() -> None:
    stamps: list[float] = []

    async def job() -> None:
        stamps.append(time.time())

    service = Service("cron")
    task = service.add(PeriodicTask(job, cron="* * * * * *", name="every-second"))  # seconds
    await service.start()
    await eventually(lambda: len(stamps) >= 2, timeout=30, what="two runs")
    await service.stop()
    assert isinstance(task, PeriodicTask)
    assert task.runs >= 2
    # cron runs fall on (or just after) whole seconds of the wall clock
    assert int(stamps[1]) > int(stamps[0])


async def test_the_health_registry_starts_first_and_answers_ready_only_while_running() -> None:
    from anker.health import Health

    health = Health(interval=3600)  # no background refresh: only the service's own
    journal: list[str] = []
    service = Service("healthy", health=health)
    assert service.add(health) is service.components[0]  # added once, by Service()
    service.add(Recorder("worker", journal))
    assert [c.name for c in service.components] == ["health", "worker"]
    await service.start()
    report = health.cached("ready")
    assert report is not None
    assert report.status == "pass"
    await service.stop()
    report = health.cached("ready")  # what the endpoint said from the start of the drain
    assert report is not None
    assert report.status == "fail"


async def test_an_asgi_app_drains_its_requests_in_progress_and_metrics_are_served() -> None:
    import httpx

    from anker.service import ASGIServer

    begun = asyncio.Event()

    async def app(scope: dict[str, object], receive: object, send: Any) -> None:
        assert scope["type"] == "http"
        begun.set()
        await asyncio.sleep(0.3)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    service = Service("web")
    web = service.add(ASGIServer(app, port=0, name="api"))
    endpoint = service.add(ASGIServer(service.metrics.asgi_app(), port=0, name="metrics"))
    assert isinstance(web, ASGIServer)
    assert isinstance(endpoint, ASGIServer)
    await service.start()
    async with httpx.AsyncClient() as client:
        metrics = await client.get(f"http://127.0.0.1:{endpoint.port}/metrics")
        assert 'anker_service_state{state="running"} 1.0' in metrics.text
        slow = asyncio.ensure_future(client.get(f"http://127.0.0.1:{web.port}/slow"))
        await begun.wait()
        assert await service.stop() is ExitCode.OK
        response = await slow
        assert (response.status_code, response.text) == (200, "done")
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{web.port}/slow")


async def test_a_port_in_use_is_named_in_the_start_error() -> None:
    from anker.service import ASGIServer

    async def app(scope: dict[str, object], receive: object, send: Any) -> None:
        return None

    running = Service("running")
    first = ASGIServer(app, port=0, name="api")
    running.add(first)
    await running.start()
    try:
        service = Service("web")
        service.add(ASGIServer(app, port=first.port, name="admin-api"))
        with pytest.raises(OSError, match="in use") as taken:
            await service.start()
        assert f"admin-api cannot listen on 127.0.0.1:{first.port}" in str(taken.value)
        assert service.state is State.STOPPED
    finally:
        await running.stop()


async def test_an_rpc_server_finishes_its_calls_in_flight_or_names_them_at_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    class Endpoint:
        async def work(self, context: RequestContext) -> str:
            entered.set()
            await release.wait()
            return "finished"

    url = f"memory://d{uuid.uuid4().hex[:8]}"
    async with await connect(url) as transport:
        client = RPCClient(transport, Target(topic="w"), timeout=60)

        service = Service("rpc")
        service.add(RPCServer(transport, Target(topic="w", server="s1"), [Endpoint()]))
        metrics = service.metrics  # made after the server was added: it is counted too
        await service.start()
        call = asyncio.ensure_future(client.call(None, "work"))
        await entered.wait()
        stopping = asyncio.ensure_future(service.stop(deadline=60))
        await eventually(lambda: service.state is State.DRAINING)
        release.set()
        assert await stopping is ExitCode.OK
        assert await call == "finished"
        text = metrics.exposition().decode()
        assert 'anker_rpc_calls_total{method="work",outcome="ok"} 1.0' in text
        assert 'anker_rpc_call_duration_seconds_count{method="work"} 1.0' in text

        release.clear()
        entered.clear()
        late = Service("late")
        late.add(RPCServer(transport, Target(topic="w", server="s2"), [Endpoint()]))
        await late.start()
        stuck = asyncio.ensure_future(client.call(None, "work"))
        await entered.wait()
        assert await late.stop(deadline=0.2) is ExitCode.DEADLINE
        assert "abandoned: 1 message(s) being handled by" in caplog.text
        release.set()
        stuck.cancel()


async def test_jitter_is_drawn_afresh_for_each_run_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import anker.service._periodic as periodic

    drawn: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        drawn.append((low, high))
        return high

    monkeypatch.setattr(periodic.random, "uniform", uniform)
    service = Service("jittered")

    @service.periodic(interval=0.02, jitter=0.01)
    async def job() -> None:
        return None

    await service.start()
    await eventually(lambda: job.runs >= 3)
    await service.stop()
    assert len(drawn) >= 3
    assert set(drawn) == {(0.0, 0.01)}


async def test_a_component_that_stops_working_on_its_own_stops_the_service_as_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from anker.service import ASGIServer

    async def app(scope: dict[str, object], receive: object, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    service = Service("web")
    web = service.add(ASGIServer(app, port=0, name="api"))
    assert isinstance(web, ASGIServer)
    serving = asyncio.ensure_future(service.serve())
    await eventually(lambda: service.state is State.RUNNING, what="the service runs")
    web._server.should_exit = True  # uvicorn ends its serve() as if it had failed
    code = await asyncio.wait_for(serving, 30)
    assert code is ExitCode.FAILED
    assert service.state is State.STOPPED
    assert "component api stopped working (api stopped serving); stopping" in caplog.text


async def test_a_component_that_ends_because_it_was_asked_to_is_no_failure() -> None:
    from anker.service import ASGIServer

    async def app(scope: dict[str, object], receive: object, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    service = Service("web")
    service.add(ASGIServer(app, port=0, name="api"))
    serving = asyncio.ensure_future(service.serve())
    await eventually(lambda: service.state is State.RUNNING, what="the service runs")
    service.request_stop()
    assert await asyncio.wait_for(serving, 30) is ExitCode.OK
