"""Every secret store's cheap probe, through a key manager's health check."""

from __future__ import annotations

import os
import shutil

from anker.health import Health, Status, check_key_manager
from anker.secrets import KeyManager


async def test_a_key_managers_health_check(manager: KeyManager) -> None:
    health = Health(timeout=5, ttl=0.000001, discover=False)
    health.add(check_key_manager(manager))
    report = await health.run("ready")
    assert report.status is Status.PASS, report
    assert report.outcomes[0].name == "secrets:responseTime"
    assert report.outcomes[0].result.observed_unit == "ms"
    directory = getattr(manager.driver, "directory", None)
    if directory is not None:  # the local store: its folder goes away (a lost mount)
        shutil.rmtree(os.path.join(directory, "objects"))
        report = await health.run("ready")
        assert report.status is Status.FAIL
        assert report.outcomes[0].result.output == "secret store unavailable"
