"""How long importing the library takes, in a fresh interpreter each time.

Sides: ``import anker``; oslo.config's ``from oslo_config import cfg`` (the anchor); and
``import json, asyncio``, the yardstick the foundation issue set (anker must stay under 2x).
"""

from __future__ import annotations

import compileall
import subprocess
import sys
from pathlib import Path

from bench._harness import Benchmark, Measure, Side, fixed

PROBE = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
ANKER_SOURCE = Path(__file__).resolve().parents[2] / "src" / "anker"


def import_ms(statement: str) -> Measure:
    # pip compiled the anchors' bytecode when it installed them; anker is installed editable
    # (and PYTHONDONTWRITEBYTECODE may be set), so compile its bytecode too, for a fair race.
    compileall.compile_dir(ANKER_SOURCE, quiet=1)

    def measure(count: int) -> float:
        total = 0.0
        for _ in range(count):
            output = subprocess.run(
                [sys.executable, "-c", PROBE.format(statement=statement)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            total += float(output)
        return total / count * 1000

    return measure


BENCHMARK = Benchmark(
    name="import",
    description="time to import the library in a fresh interpreter",
    unit="ms",
    higher_is_better=False,
    sides=(
        Side("anker", fixed(import_ms("import anker")), is_anker=True, requires=("anker",)),
        Side(
            "oslo.config",
            fixed(import_ms("from oslo_config import cfg")),
            requires=("oslo_config",),
        ),
        Side("json+asyncio (yardstick)", fixed(import_ms("import json, asyncio"))),
    ),
    count=10,
    smoke_count=1,
)
