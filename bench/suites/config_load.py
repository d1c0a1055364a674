"""Declare 1,000 options, parse a file that sets 300 of them, read every value once.

Sides: anker.config (declare classes, load with full validation, read); oslo.config (register,
parse, read: values are converted on first read); Python's configparser parsing the same file
and reading the 300 values it holds (no declarations, no types: the floor).
"""

from __future__ import annotations

import configparser
import contextlib
from collections.abc import Iterator

from bench._harness import Benchmark, Measure, Side, mean_time_of
from bench.suites._config_workload import anker_config_class, layout, oslo_config, write_file


@contextlib.contextmanager
def workload_file() -> Iterator[str]:
    path = write_file()
    try:
        yield str(path)
    finally:
        path.unlink()


@contextlib.contextmanager
def anker_side() -> Iterator[Measure]:
    with workload_file() as path:

        def run() -> None:
            conf = anker_config_class().load(files=[path])
            for section, options in layout():
                group = getattr(conf, section)
                for name, _ in options:
                    getattr(group, name)

        yield mean_time_of(run, 1e3)


@contextlib.contextmanager
def oslo_side() -> Iterator[Measure]:
    from pathlib import Path

    with workload_file() as path:

        def run() -> None:
            conf = oslo_config(Path(path))
            for section, options in layout():
                group = getattr(conf, section)
                for name, _ in options:
                    getattr(group, name)
            conf.reset()

        yield mean_time_of(run, 1e3)


@contextlib.contextmanager
def configparser_side() -> Iterator[Measure]:
    with workload_file() as path:

        def run() -> None:
            parser = configparser.ConfigParser()
            parser.read(path)
            for section in parser.sections():
                for name in parser[section]:
                    parser[section][name]

        yield mean_time_of(run, 1e3)


BENCHMARK = Benchmark(
    name="config-load",
    description="declare 1,000 options, load a file setting 300, read every value once",
    unit="ms per run",
    higher_is_better=False,
    sides=(
        Side("anker.config", anker_side, is_anker=True),
        Side("oslo.config", oslo_side, requires=("oslo_config",)),
        Side("configparser (parse+read only)", configparser_side),
    ),
    count=20,
    smoke_count=1,
)
