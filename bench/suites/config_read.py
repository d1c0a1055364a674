"""Reading one option value in a hot loop: ``conf.group3.opt42``.

The floor is the same two attribute reads on plain Python objects of the same shape.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

from bench._harness import Benchmark, Measure, Side
from bench.suites._config_workload import anker_config_class, layout, oslo_config, write_file


def ns_per_read(conf: object) -> Measure:
    def measure(count: int) -> float:
        began = time.perf_counter()
        for _ in range(count):
            conf.group3.opt42  # type: ignore[attr-defined]  # noqa: B018
        return (time.perf_counter() - began) / count * 1e9

    return measure


@contextlib.contextmanager
def anker_side() -> Iterator[Measure]:
    path = write_file()
    try:
        yield ns_per_read(anker_config_class().load(files=[str(path)]))
    finally:
        path.unlink()


@contextlib.contextmanager
def oslo_side() -> Iterator[Measure]:
    path = write_file()
    try:
        yield ns_per_read(oslo_config(Path(path)))
    finally:
        path.unlink()


@contextlib.contextmanager
def plain_object_side() -> Iterator[Measure]:
    # the same shape as the configuration: sections of 100 attributes each
    yield ns_per_read(
        SimpleNamespace(
            **{
                section: SimpleNamespace(**{name: 0 for name, _ in options})
                for section, options in layout()
            }
        )
    )


BENCHMARK = Benchmark(
    name="config-read",
    description="read one option value, in a hot loop",
    unit="ns per read",
    higher_is_better=False,
    sides=(
        Side("anker.config", anker_side, is_anker=True),
        Side("oslo.config", oslo_side, requires=("oslo_config",)),
        Side("plain object (floor)", plain_object_side),
    ),
    count=20000,
    smoke_count=10,
)
