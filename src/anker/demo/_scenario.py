"""The scripted scenario of ``anker demo``: each step drives the cloud through its API (or
its process: a SIGKILL, a SIGHUP) and checks what it answers."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anker.demo._process import CloudProcess
from anker.demo._show import Show

if TYPE_CHECKING:
    import httpx

    from anker.demo._setup import Setup

__all__ = ["Scenario", "StepResult"]

#: how long a server may take to become ACTIVE, or a step's condition to hold (a loaded CI
#: machine is slow; a healthy laptop takes well under a second)
WAIT = 60.0


@dataclass(frozen=True)
class StepResult:
    """One step of the scenario: did it show what it should, and the numbers it saw."""

    name: str
    ok: bool
    detail: str


class Scenario:
    """Runs the demo's steps against a cloud set up by :func:`~anker.demo.prepare`."""

    def __init__(self, setup: Setup, show: Show | None = None) -> None:
        self.setup = setup
        self.show = show or Show()
        self.cloud = CloudProcess(setup)
        self.results: list[StepResult] = []
        self.seen_events = 0
        self._client: httpx.AsyncClient | None = None

    # -- plumbing -------------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client of the running cloud's API."""
        assert self._client is not None, "the cloud is not started"
        return self._client

    async def _connect(self) -> None:
        import httpx

        if self._client is not None:
            await self._client.aclose()
        self._client = httpx.AsyncClient(base_url=self.cloud.api, timeout=30)

    async def _until(self, what: str, check: Callable[[], Awaitable[Any]]) -> Any:
        deadline = time.monotonic() + WAIT
        while True:
            found = await check()
            if found:
                return found
            if not self.cloud.running:
                raise AssertionError(f"the cloud died while waiting for {what}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {WAIT:.0f} s")
            await asyncio.sleep(0.05)

    async def server(self, server_id: str) -> dict[str, Any]:
        """``GET /v1/servers/ID``."""
        answer = await self.client.get(f"/v1/servers/{server_id}")
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    async def create(self, name: str, cores: int, **extra: Any) -> httpx.Response:
        """``POST /v1/servers``."""
        return await self.client.post("/v1/servers", json={"name": name, "cores": cores, **extra})

    async def active(self, server_id: str) -> dict[str, Any]:
        """The server once ACTIVE (or ERROR)."""

        async def done() -> dict[str, Any] | None:
            server = await self.server(server_id)
            if server["state"] in ("ACTIVE", "ERROR"):
                return server
            return None

        found: dict[str, Any] = await self._until(f"server {server_id} ACTIVE", done)
        return found

    async def print_events(self) -> None:
        """Show the cloud's notifications not shown yet."""
        answer = await self.client.get("/v1/events", params={"after": self.seen_events})
        for event in answer.json():
            self.seen_events = max(self.seen_events, event["seq"])
            payload = event["payload"]
            where = f" on {payload['host']}" if payload.get("host") else ""
            self.show.event(f"{event['event']}: {payload.get('name')}{where}")

    def record(self, name: str, ok: bool, detail: str) -> StepResult:
        """Keep and show a step's outcome."""
        result = StepResult(name, ok, detail)
        self.results.append(result)
        self.show.outcome(ok, detail)
        return result

    # -- the steps ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the cloud's process and wait until its API answers."""
        self.show.step("Start the cloud", "anker run anker.demo:cloud")
        await self.cloud.start()
        await self._connect()
        ready = await self.client.get("/readyz")
        self.record(
            "start",
            ready.status_code == 200,
            f"API on {self.cloud.api} in {self.cloud.started_in:.1f} s (pid {self.cloud.pid});"
            f" /readyz {ready.status_code}",
        )

    async def create_servers(self) -> None:
        """Two servers, created at once."""
        self.show.step("Create two servers", "quota claim, then a workflow each")
        answers = await asyncio.gather(self.create("web-1", 2), self.create("web-2", 2))
        ids = [answer.json()["id"] for answer in answers]
        servers = [await self.active(server_id) for server_id in ids]
        await self._until("two notifications", self._events_at_least(2))
        await self.print_events()
        placed = ", ".join(f"{s['name']} on {s['host']}" for s in servers)
        self.record(
            "create",
            all(s["state"] == "ACTIVE" for s in servers),
            f"{len(servers)} servers ACTIVE: {placed}",
        )

    def _events_at_least(self, count: int) -> Callable[[], Awaitable[bool]]:
        async def enough() -> bool:
            answer = await self.client.get("/v1/events", params={"after": self.seen_events})
            return len(answer.json()) >= count

        return enough

    async def survive_kill(self) -> None:
        """SIGKILL the cloud while a server boots; its workflow resumes after a restart."""
        self.show.step("Kill the cloud mid-boot", "SIGKILL, restart, the workflow resumes")
        answer = await self.create("db-1", 4, boot_seconds=3)
        server_id = answer.json()["id"]

        async def booting() -> bool:
            tasks = (await self.server(server_id)).get("workflow", {}).get("tasks", {})
            return bool(tasks.get("boot", {}).get("state") == "RUNNING")

        await self._until("db-1 booting", booting)
        old_pid = self.cloud.pid
        await self.cloud.kill()
        self.show.note(f"killed pid {old_pid} with SIGKILL while db-1 was booting")
        restarted = time.monotonic()
        await self.cloud.start()
        await self._connect()
        server = await self.active(server_id)
        took = time.monotonic() - restarted
        attempts = {name: task["attempts"] for name, task in server["workflow"]["tasks"].items()}
        await self.print_events()
        self.record(
            "crash",
            server["state"] == "ACTIVE"
            and attempts.get("schedule") == 1
            and attempts.get("allocate") == 1
            and attempts.get("boot") == 2,
            f"db-1 ACTIVE {took:.1f} s after the restart (pid {self.cloud.pid}); attempts:"
            f" schedule {attempts.get('schedule')}, allocate {attempts.get('allocate')},"
            f" boot {attempts.get('boot')} (only the step in flight ran again)",
        )

    async def refuse_over_quota(self) -> None:
        """A server over the project's quota is refused."""
        self.show.step("A fourth server", "the project's limit is 3 instances")
        answer = await self.create("web-3", 2)
        body = answer.json()
        self.record(
            "quota",
            answer.status_code == 403 and body.get("resource") == "instances",
            f"HTTP {answer.status_code}: {body.get('error')}",
        )

    async def delete_one(self) -> None:
        """Delete a server: its cores and quota come back."""
        self.show.step("Delete web-1", "the undo steps give the host's cores and the quota back")
        servers = (await self.client.get("/v1/servers")).json()
        web1 = next(server for server in servers if server["name"] == "web-1")
        answer = await self.client.delete(f"/v1/servers/{web1['id']}")
        answer.raise_for_status()

        async def gone() -> bool:
            names = [server["name"] for server in (await self.client.get("/v1/servers")).json()]
            return "web-1" not in names

        await self._until("web-1 deleted", gone)
        await self.print_events()
        quota = (await self.client.get("/v1/quota")).json()
        hosts = (await self.client.get("/v1/hosts")).json()["hosts"]
        used = ", ".join(f"{h['host']} {h['used']}/{h['cores']}" for h in hosts)
        self.record(
            "delete",
            quota["instances"]["used"] == 2 and quota["cores"]["used"] == 6,
            f"quota instances {quota['instances']['used']}/{quota['instances']['limit']},"
            f" cores {quota['cores']['used']}/{quota['cores']['limit']}; cores used: {used}",
        )

    async def reload_log_level(self) -> None:
        """SIGHUP after raising the log level in the file: DEBUG lines, same process."""
        self.show.step("Reload the configuration", "log_level = DEBUG, then SIGHUP")
        before = (await self.client.get("/v1/info")).json()["log_level"]
        path = self.setup.config_path
        path.write_text(path.read_text().replace("log_level = INFO", "log_level = DEBUG"))
        pid = self.cloud.pid
        self.cloud.signal(signal.SIGHUP)

        async def debug() -> bool:
            return bool((await self.client.get("/v1/info")).json()["log_level"] == "DEBUG")

        await self._until("the DEBUG level", debug)
        lines_before = len(self.cloud.log_lines())
        answer = await self.create("web-3", 2)  # room again: web-1 is gone
        await self.active(answer.json()["id"])
        await self.print_events()
        debug_lines = [
            line
            for line in self.cloud.log_lines()[lines_before:]
            if "DEBUG" in line and "weighed hosts" in line
        ]
        if debug_lines:
            message = debug_lines[0].split("anker.demo.scheduler ", 1)[-1]
            self.show.note("DEBUG " + message.split("] ", 1)[-1].strip()[:100])
        self.record(
            "reload",
            bool(debug_lines) and self.cloud.pid == pid and self.cloud.running,
            f"log level {before} -> DEBUG in place (same pid {pid}, nothing restarted);"
            f" {len(debug_lines)} scheduler DEBUG line(s) since",
        )

    async def rolling_restart(self) -> None:
        """Replace the scheduler workers while calls keep coming; none fails."""
        self.show.step("Rolling restart of the scheduler", "while calls keep coming")
        calls = failures = 0
        served: dict[str, int] = {}
        stop = asyncio.Event()

        async def caller() -> None:
            nonlocal calls, failures
            while not stop.is_set():
                answer = await self.client.get("/v1/hosts")
                calls += 1
                if answer.status_code != 200:
                    failures += 1
                else:
                    name = answer.json()["scheduler"]
                    served[name] = served.get(name, 0) + 1

        callers = [asyncio.create_task(caller()) for _ in range(4)]
        await asyncio.sleep(0.3)
        answer = await self.client.post(
            "/v1/admin/rolling-restart", headers={"X-Admin-Token": self.setup.admin_token}
        )
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*callers)
        report = answer.json()
        for step in report.get("replaced", []):
            self.show.note(f"{step['started']} started, then {step['stopped']} drained")
        by = ", ".join(f"{name} {count}" for name, count in sorted(served.items()))
        self.record(
            "rolling-restart",
            answer.status_code == 200 and failures == 0 and len(served) >= 3,
            f"{calls} RPC calls during the restart, {failures} failed; served by {by}",
        )

    async def health(self) -> None:
        """The health endpoint, anonymous and with the token."""
        self.show.step("Ask the health endpoint", "safe by default; details with the token")
        anonymous = await self.client.get("/healthz")
        detailed = await self.client.get(
            "/healthz", headers={"X-Health-Token": self.setup.admin_token}
        )
        body = detailed.json()
        checks = body.get("checks", {})
        for name, results in sorted(checks.items()):
            status = results[0].get("status") if results else "?"
            self.show.note(f"{name}: {status}")
        self.record(
            "health",
            anonymous.json() == {"status": "pass"}
            and body.get("status") == "pass"
            and bool(checks),
            f"anonymous: {anonymous.json()}; with the token: {body.get('status')},"
            f" {len(checks)} checks",
        )

    async def stop(self) -> None:
        """SIGTERM: the cloud drains and exits 0."""
        self.show.step("Stop the cloud", "SIGTERM: drain, then exit")
        began = time.monotonic()
        status = await self.cloud.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self.record(
            "stop",
            status == 0,
            f"exit status {status} in {time.monotonic() - began:.2f} s (0: every piece of"
            " in-flight work finished)",
        )

    async def run(self) -> list[StepResult]:
        """Every step, in order; the cloud is stopped (killed, if need be) at the end."""
        steps = (
            self.start,
            self.create_servers,
            self.survive_kill,
            self.refuse_over_quota,
            self.delete_one,
            self.reload_log_level,
            self.rolling_restart,
            self.health,
        )
        try:
            for step in steps:
                try:
                    await step()
                except Exception as failed:  # one failed step is reported, the rest go on
                    self.record(step.__name__, False, f"{type(failed).__name__}: {failed}")
                    if not self.cloud.running:
                        break
            await self.stop()
        finally:
            if self.cloud.running:
                await self.cloud.kill()
            if self._client is not None:
                await self._client.aclose()
        return self.results
