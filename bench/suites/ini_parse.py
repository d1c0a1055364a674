"""Parsing an INI file (the config-load workload's file, 10 sections, 300 keys) into values.

Sides: anker's INI reader (oslo.config's dialect, every problem located) against Python's
configparser, both from text in memory to entries, with nothing else to do.
"""

from __future__ import annotations

import configparser
import contextlib
from collections.abc import Iterator

from bench._harness import Benchmark, Measure, Side, mean_time_of
from bench.suites._config_workload import write_file


@contextlib.contextmanager
def workload_text() -> Iterator[str]:
    path = write_file()
    try:
        yield path.read_text()
    finally:
        path.unlink()


@contextlib.contextmanager
def anker_side() -> Iterator[Measure]:
    from anker.config._ini import parse_ini

    with workload_text() as text:
        yield mean_time_of(lambda: parse_ini(text, "bench.conf"), 1e6)


@contextlib.contextmanager
def configparser_side() -> Iterator[Measure]:
    with workload_text() as text:
        yield mean_time_of(lambda: configparser.ConfigParser().read_string(text), 1e6)


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
