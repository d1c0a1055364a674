"""Discovery: instances register with their endpoints and place, clients list them nearest
first, a draining instance leaves at once and a dead one when its lease ends."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from anker.cli import cli
from anker.coordination import Coordinator
from anker.service import Registration, Service, discover
from waiting import eventually

PLACES = {"a": ("r1", "z1"), "b": ("r1", "z2"), "c": ("r2", "z1"), "d": ("r1", "z1")}


async def test_instances_are_listed_nearest_first(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    coordinators = [await Coordinator.connect(url, member_id=m, lease=10) for m in PLACES]
    try:
        for coordinator in coordinators:
            region, zone = PLACES[coordinator.member_id]
            registration = Registration(
                coordinator,
                "compute-api",
                endpoints={"http": f"http://{coordinator.member_id}.example:8774"},
                region=region,
                zone=zone,
                host=f"host-{coordinator.member_id}",
            )
            await registration.start()
        async with await Coordinator.connect(url, member_id="client") as client:
            near = await discover(client, "compute-api", region="r1", zone="z1")
            assert [i.id for i in near] == ["a", "d", "b", "c"]  # zone, region, elsewhere
            assert near[0].endpoints == {"http": "http://a.example:8774"}
            assert (near[0].region, near[0].zone, near[0].host) == ("r1", "z1", "host-a")
            other = await discover(client, "compute-api", region="r2")
            assert other[0].id == "c"
            assert await discover(client, "nothing-here") == []
    finally:
        for coordinator in coordinators:
            await coordinator.aclose()


async def test_a_draining_instance_leaves_at_once_and_stop_is_harmless(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    async with (
        await Coordinator.connect(url, member_id="one") as coordinator,
        await Coordinator.connect(url, member_id="client") as client,
    ):
        service = Service("api")
        service.add(Registration(coordinator, "api", endpoints={"http": "http://one:80"}))
        await service.start()
        assert [i.id for i in await discover(client, "api")] == ["one"]
        await service.stop()
        assert await discover(client, "api") == []


def test_endpoints_with_credentials_are_refused(tmp_path: Path) -> None:
    async def check() -> None:
        async with await Coordinator.connect(f"file://{tmp_path}") as coordinator:
            with pytest.raises(ValueError, match="hold credentials"):
                Registration(coordinator, "api", endpoints={"amqp": "rabbit://u:secret@mq/"})

    asyncio.run(check())


CHILD = """
import asyncio, sys
from anker.coordination import Coordinator
from anker.service import Registration

async def main():
    coordinator = await Coordinator.connect(sys.argv[1], member_id="doomed", lease=1)
    await Registration(coordinator, "api", endpoints={"http": "http://doomed:80"}).start()
    print("registered", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_killed_instance_disappears_when_its_lease_ends(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        url,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert child.stdout is not None
        assert (await child.stdout.readline()).strip() == b"registered"
        async with await Coordinator.connect(url, member_id="client") as client:
            assert [i.id for i in await discover(client, "api")] == ["doomed"]
            child.send_signal(signal.SIGKILL)
            await child.wait()

            async def gone() -> bool:
                return await discover(client, "api") == []

            await eventually(gone, timeout=30, what="the killed instance's lease ends")
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def test_anker_service_list(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    async with await Coordinator.connect(url, member_id="web-1") as coordinator:
        await Registration(
            coordinator, "web", endpoints={"http": "http://web-1:8080"}, region="r1", zone="z9"
        ).start()

        def run(*args: str) -> tuple[int, str]:
            result = CliRunner().invoke(cli, ["service", "--url", url, "list", *args])
            return result.exit_code, result.output

        code, out = await asyncio.to_thread(run, "web", "--format", "json")
        assert code == 0, out
        (row,) = json.loads(out)
        assert (row["id"], row["endpoints"], row["zone"]) == (
            "web-1",
            {"http": "http://web-1:8080"},
            "z9",
        )
        code, out = await asyncio.to_thread(run, "web")
        assert code == 0
        assert "web-1" in out
        assert "http=http://web-1:8080" in out
        code, out = await asyncio.to_thread(run, "nobody")
        assert (code, out.strip()) == (0, "(none)")
    missing = await asyncio.to_thread(
        CliRunner().invoke, cli, ["service", "--url", f"file://{tmp_path}/none", "list", "x"]
    )
    assert missing.exit_code == 1, missing.output
    assert "no folder" in missing.output
