"""Test-suite wide settings: server fixtures, and no silent skips where servers are required."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest
from hypothesis import settings

from servers import (  # noqa: F401 (fixtures, found by pytest through this import)
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
