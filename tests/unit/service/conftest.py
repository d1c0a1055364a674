"""Fixtures of the service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from process import ServiceProcess


@pytest.fixture
def spawn() -> Iterator[type[ServiceProcess]]:
    made: list[ServiceProcess] = []

    class Tracked(ServiceProcess):
        def __init__(self, target: str = "sample_service:make", *options: str, **env: str) -> None:
            super().__init__(target, *options, **env)
            made.append(self)

    yield Tracked
    for each in made:
        each.close()
