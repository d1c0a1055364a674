"""Parsing an INI file (the config-load workload's file, 10 sections, 300 keys) into values.

Sides: anker's INI reader (oslo.config's dialect, every problem located) against Python's
configparser, both from text in memory to entries, with nothing else to do.
"""

from __future__ import annotations

import configparser
import contextlib
import time
from collections.abc import Iterator

from bench._harness import Benchmark, Measure, Side
from bench.suites._config_workload import write_file


@contextlib.contextmanager
def workload_text() -> Iterator[str]:
    path = write_file()
    try:
        yield path.read_text()
    finally:
        path.unlink()


def per_parse_us(parse: object) -> Measure:
    def measure(count: int) -> float:
        began = time.perf_counter()
        for _ in range(count):
            parse()  # type: ignore[operator]
        return (time.perf_counter() - began) / count * 1e6

    return measure


@contextlib.contextmanager
def anker_side() -> Iterator[Measure]:
    from anker.config._ini import parse_ini

    with workload_text() as text:
        yield per_parse_us(lambda: parse_ini(text, "bench.conf"))


@contextlib.contextmanager
def configparser_side() -> Iterator[Measure]:
    with workload_text() as text:
        yield per_parse_us(lambda: configparser.ConfigParser().read_string(text))


BENCHMARK = Benchmark(
    name="ini-parse",
    description="parse a 300-key INI text into entries",
    unit="µs per parse",
    higher_is_better=False,
    sides=(
        Side("anker INI reader", anker_side, is_anker=True),
        Side("configparser", configparser_side),
    ),
    count=200,
    smoke_count=1,
)
