"""How long importing the configuration library takes: ``anker.config`` against oslo.config."""

from __future__ import annotations

from bench._harness import Benchmark, Side, fixed
from bench.suites.import_time import import_ms

BENCHMARK = Benchmark(
    name="config-import",
    description="time to import the configuration library in a fresh interpreter",
    unit="ms",
    higher_is_better=False,
    sides=(
        Side("anker.config", fixed(import_ms("import anker.config")), is_anker=True),
        Side(
            "oslo.config",
            fixed(import_ms("from oslo_config import cfg")),
            requires=("oslo_config",),
        ),
    ),
    count=10,
    smoke_count=1,
)
