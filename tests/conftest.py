"""Test-suite wide settings: server fixtures, and no silent skips where servers are required."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from hypothesis import settings

from servers import (  # noqa: F401 (fixtures, found by pytest through this import)
    SERVERS,
    barbican_url,
    clevis,
    etcd_url,
    mariadb_url,
    nats_url,
    postgres_url,
    private_tang,
    rabbit_url,
    redis_url,
    tang2_url,
    tang_url,
    tang_urls,
    zookeeper_url,
)

REQUIRE_SERVICES = os.environ.get("ANKER_REQUIRE_SERVICES") == "1"

# CI runs the same property-test examples every time (no flaky red from a lucky draw); runs on
# a developer's machine draw new ones, which is where fuzzing finds things.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """With ANKER_REQUIRE_SERVICES=1 (CI), a skipped test is a failed test."""
    report = yield
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but ANKER_REQUIRE_SERVICES=1 forbids skips: {reason}"
    return report


@pytest.fixture(scope="session", autouse=True)
def _forget_rabbitmq_queues() -> Iterator[None]:
    """Delete, after the run, the queues this process declared on the shared RabbitMQ.

    Topic and notification queues outlive their consumers (as oslo.messaging's do), so every
    run would leave a hundred or so behind. The names are recorded as they are declared
    (aiormq's ``queue_declare``, which anker and aio-pika use) and deleted at the end; a name
    declared on a private broker that is gone by then is not on the shared one (deleting it
    there does nothing)."""
    try:
        import aiormq.channel
    except ImportError:
        yield
        return
    declared: set[str] = set()
    original = aiormq.channel.Channel.queue_declare

    async def recording(self: Any, queue: str = "", **options: Any) -> Any:
        answer = await original(self, queue, **options)
        if not options.get("passive") and not options.get("exclusive"):
            declared.add(answer.queue)
        return answer

    aiormq.channel.Channel.queue_declare = recording  # type: ignore[method-assign]
    try:
        yield
    finally:
        aiormq.channel.Channel.queue_declare = original  # type: ignore[method-assign]
        if declared:
            with contextlib.suppress(Exception):  # a broker that is gone keeps nothing anyway
                asyncio.run(_delete_queues(sorted(declared)))


async def _delete_queues(names: list[str]) -> None:
    import aiormq

    from anker._url import parse_url

    endpoint = parse_url(SERVERS["rabbitmq"].url).endpoints[0]
    user = endpoint.username or "guest"
    password = endpoint.password.reveal() if endpoint.password else "guest"
    amqp = f"amqp://{user}:{password}@{endpoint.host}:{endpoint.port or 5672}/"
    async with asyncio.timeout(30):
        connection = await aiormq.connect(amqp)
        try:
            channel = await connection.channel()
            for name in names:
                await channel.queue_delete(name)
        finally:
            await connection.close()
