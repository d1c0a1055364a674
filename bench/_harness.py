"""Run one benchmark's sides interleaved, take medians, print ratios, keep the raw numbers.

A benchmark has one anker side and one or more anchor sides (oslo.*, tooz, taskflow, DBOS, the
raw client as the floor). Every side is opened once (connections, servers, portals: outside
the timing), warmed up once, then measured ``reps`` times, each time in a new order (shuffled
with a seed of the benchmark's name: the same orders in every run), so that a noisy moment of
the machine hits every side alike and no side always runs after the same neighbour (a side
that warms or cools a cache, a server or the CPU would bias the one after it). The table
shows the median of each side and the ratio anker/side; the JSON under ``bench/results/``
holds every sample.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import platform
import random
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Benchmark",
    "Measured",
    "Result",
    "Side",
    "Unavailable",
    "fixed",
    "mean_time_of",
    "render",
    "run",
    "save",
]

#: A side's measuring function: run the workload ``count`` times, return the metric.
Measure = Callable[[int], float]

RESULTS_DIR = Path(__file__).parent / "results"


class Measured(float):
    """A measure's metric with extra figures besides it (e.g. fairness next to a rate): the
    harness keeps each extra's samples per side, and prints their medians under the table."""

    extras: dict[str, float]

    def __new__(cls, value: float, extras: dict[str, float]) -> Measured:
        measured = super().__new__(cls, value)
        measured.extras = dict(extras)
        return measured


class Unavailable(Exception):
    """Raised by a side's ``open`` when what it needs is not here (e.g. a server is down)."""


@dataclass(frozen=True)
class Side:
    """One contestant: anker, or an anchor measured on the same workload."""

    name: str
    open: Callable[[], AbstractContextManager[Measure]]
    is_anker: bool = False
    #: Python modules the side needs; a missing one is reported before anything runs.
    requires: tuple[str, ...] = ()
    #: False leaves the side out of --smoke runs: for a side whose every sample takes long
    #: (an anchor with 30 s default timeouts) when another side runs the same code faster.
    smoke: bool = True


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    unit: str
    higher_is_better: bool
    sides: tuple[Side, ...]
    count: int
    smoke_count: int = 1
    reps: int = 7


@dataclass
class Result:
    benchmark: Benchmark
    reps: int
    count: int
    samples: dict[str, list[float]] = field(default_factory=dict)
    #: side -> extra figure -> samples, for measures that return :class:`Measured`
    extras: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    @property
    def sides(self) -> list[Side]:
        """The sides that ran (a smoke run leaves out those marked ``smoke=False``)."""
        return [side for side in self.benchmark.sides if side.name in self.samples]

    def median(self, side: str) -> float:
        return statistics.median(self.samples[side])

    def ratios(self) -> dict[str, float]:
        """anker's median over each anchor's median."""
        anker = next(side.name for side in self.sides if side.is_anker)
        return {
            side.name: self.median(anker) / self.median(side.name)
            for side in self.sides
            if not side.is_anker and self.median(side.name) != 0
        }

    def record(self, side: str, value: float) -> None:
        self.samples[side].append(float(value))
        for key, extra in getattr(value, "extras", {}).items():
            self.extras.setdefault(side, {}).setdefault(key, []).append(extra)


def fixed(measure: Measure) -> Callable[[], AbstractContextManager[Measure]]:
    """A side with nothing to open or close."""

    @contextlib.contextmanager
    def opened() -> Iterator[Measure]:
        yield measure

    return opened


def mean_time_of(run: Callable[[], object], scale: float) -> Measure:
    """A measure that calls ``run`` ``count`` times and gives the mean time of one call,
    times ``scale`` (1e3 for ms, 1e6 for µs)."""

    def measure(count: int) -> float:
        began = time.perf_counter()
        for _ in range(count):
            run()
        return (time.perf_counter() - began) / count * scale

    return measure


def missing_modules(benchmark: Benchmark) -> dict[str, list[str]]:
    """The modules each side needs that cannot be imported here."""
    import importlib.util

    found: dict[str, list[str]] = {}
    for side in benchmark.sides:
        for module in side.requires:
            try:
                spec = importlib.util.find_spec(module)
            except ModuleNotFoundError:
                spec = None
            if spec is None:
                found.setdefault(side.name, []).append(module)
    return found


def run(
    benchmark: Benchmark,
    *,
    reps: int | None = None,
    count: int | None = None,
    progress: Callable[[str], None] = lambda _: None,
    smoke: bool = False,
) -> Result:
    """Measure every side ``reps`` times, interleaved, after one warm-up each."""
    reps = reps or benchmark.reps
    count = count or benchmark.count
    sides = [side for side in benchmark.sides if side.smoke or not smoke]
    result = Result(benchmark, reps, count, {side.name: [] for side in sides})
    with contextlib.ExitStack() as stack:
        measures = [(side, stack.enter_context(side.open())) for side in sides]
        for _, measure in measures:
            measure(benchmark.smoke_count)
        orders = random.Random(benchmark.name)
        for rep in range(reps):
            order = list(measures)
            orders.shuffle(order)
            for side, measure in order:
                result.record(side.name, measure(count))
            progress(f"  rep {rep + 1}/{reps} done")
    return result


def render(result: Result) -> str:
    """A table of medians and of the ratio anker/anchor for each anchor."""
    bench = result.benchmark
    better = "higher" if bench.higher_is_better else "lower"
    lines = [
        f"{bench.name}: {bench.description}",
        f"  {result.reps} reps of {result.count}, interleaved; {bench.unit}, {better} is better",
        "",
        f"  {'side':<26} {'median':>12} {'min':>12} {'max':>12} {'anker/side':>11}",
    ]
    ratios = result.ratios()
    for side in result.sides:
        samples = result.samples[side.name]
        ratio = "" if side.is_anker else f"{ratios.get(side.name, float('nan')):.2f}x"
        lines.append(
            f"  {side.name:<26} {_num(result.median(side.name)):>12} {_num(min(samples)):>12} "
            f"{_num(max(samples)):>12} {ratio:>11}"
        )
    for name, ratio in ratios.items():
        anker_better = ratio > 1 if bench.higher_is_better else ratio < 1
        factor = ratio if ratio >= 1 else 1 / ratio
        verdict = "better" if anker_better else "worse"
        lines.append(f"  anker vs {name}: {factor:.2f}x {verdict}")
    lines.extend(_render_extras(result))
    return "\n".join(lines)


def _render_extras(result: Result) -> list[str]:
    """One line per side with the median of each extra figure (and anker/side for it)."""
    if not result.extras:
        return []
    anker = next(side.name for side in result.sides if side.is_anker)
    mine = result.extras.get(anker, {})
    lines = ["", "  extras (medians; anker/side in brackets):"]
    for side in result.sides:
        figures = []
        for key, samples in result.extras.get(side.name, {}).items():
            median = statistics.median(samples)
            text = f"{key} {_num(median)}"
            if side.name != anker and key in mine and median not in (0, float("inf")):
                text += f" [{statistics.median(mine[key]) / median:.2f}x]"
            figures.append(text)
        if figures:
            lines.append(f"  {side.name:<26} {', '.join(figures)}")
    return lines


def _num(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.3g}"


def save(result: Result, directory: Path = RESULTS_DIR) -> Path:
    """Write every sample and the machine's facts as JSON; return the file's path."""
    bench = result.benchmark
    now = dt.datetime.now(dt.UTC)
    document: dict[str, Any] = {
        "benchmark": bench.name,
        "description": bench.description,
        "unit": bench.unit,
        "higher_is_better": bench.higher_is_better,
        "reps": result.reps,
        "count": result.count,
        "when": now.isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "anker_commit": _git_commit(),
        "sides": {
            side.name: {
                "is_anker": side.is_anker,
                "samples": result.samples[side.name],
                "median": result.median(side.name),
                **(
                    {
                        "extras": {
                            key: {"samples": samples, "median": statistics.median(samples)}
                            for key, samples in result.extras[side.name].items()
                        }
                    }
                    if side.name in result.extras
                    else {}
                ),
            }
            for side in result.sides
        },
        "ratios_anker_over_side": result.ratios(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{bench.name}-{now:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    return None
