"""Every coordination backend's cheap probe: it answers while the backend is up, and the
driver kit turns its failure into BackendUnavailable (what a health check reads as "down")."""

from __future__ import annotations

import pytest

from anker._drivers import probe_driver
from anker.coordination import BackendUnavailable
from anker.health import Health, Status, check_coordinator
from coordination_support import OpenBackend, OpenCoordinator


async def test_the_probe_answers_and_reads_nothing_it_should_not(
    open_backend: OpenBackend,
) -> None:
    backend = await open_backend()
    before = await backend.namespaces("")  # shared servers hold other tests' names
    await probe_driver(backend, timeout=5)
    assert await backend.namespaces("") == before  # the probe wrote nothing


async def test_a_closed_backend_fails_its_probe(open_backend: OpenBackend) -> None:
    backend = await open_backend()
    await backend.aclose()
    with pytest.raises(BackendUnavailable, match="probe failed"):
        await probe_driver(backend, timeout=2)


async def test_a_coordinators_health_check(coordinator: OpenCoordinator) -> None:
    health = Health(timeout=5, discover=False)
    health.add(check_coordinator(await coordinator()))
    report = await health.run("ready")
    assert report.status is Status.PASS, report
    assert report.outcomes[0].name == "coordination:responseTime"
    assert report.outcomes[0].component_type == "datastore"
