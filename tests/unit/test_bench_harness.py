"""The benchmark harness interleaves sides, takes medians and computes anker/anchor ratios."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bench._harness import Benchmark, Side, fixed, missing_modules, render, run, save

ROOT = Path(__file__).resolve().parents[2]


def scripted(name: str, values: list[float], calls: list[tuple[str, int]]) -> Side:
    remaining = iter(values)

    def measure(count: int) -> float:
        calls.append((name, count))
        return next(remaining)

    return Side(name, fixed(measure), is_anker=name == "anker")


def test_sides_are_warmed_up_then_measured_interleaved_in_shuffled_orders() -> None:
    calls: list[tuple[str, int]] = []
    bench = Benchmark(
        name="t",
        description="test",
        unit="ops/s",
        higher_is_better=True,
        sides=(
            scripted("anker", [0, 10, 30, 20], calls),
            scripted("anchor", [0, 5, 5, 40], calls),
        ),
        count=100,
        smoke_count=1,
        reps=3,
    )
    result = run(bench)
    assert calls[:2] == [("anker", 1), ("anchor", 1)]  # warm-ups, not recorded
    reps = [sorted(calls[i : i + 2]) for i in range(2, 8, 2)]
    assert reps == [[("anchor", 100), ("anker", 100)]] * 3  # every side once per repetition
    assert result.samples == {"anker": [10, 30, 20], "anchor": [5, 5, 40]}
    assert result.median("anker") == 20
    assert result.ratios() == {"anchor": 4.0}
    table = render(result)
    assert "4.00x" in table
    assert "anker vs anchor: 4.00x better" in table


def test_no_side_always_runs_after_the_same_neighbour() -> None:
    def orders() -> list[list[str]]:
        calls: list[tuple[str, int]] = []
        sides = tuple(scripted(name, [0] * 13, calls) for name in ("anker", "a", "b"))
        bench = Benchmark("t", "test", "ops/s", True, sides, count=5, smoke_count=1, reps=12)
        run(bench)
        measured = [name for name, count in calls if count == 5]
        return [measured[i : i + 3] for i in range(0, 36, 3)]

    first = orders()
    assert first == orders()  # seeded: the same orders in every run
    before_anker = {order[order.index("anker") - 1] for order in first if order[0] != "anker"}
    assert before_anker == {"a", "b"}
    assert {order[0] for order in first} == {"anker", "a", "b"}


def test_lower_is_better_reads_a_small_ratio_as_better(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    bench = Benchmark(
        name="t",
        description="test",
        unit="ms",
        higher_is_better=False,
        sides=(scripted("anker", [0, 10], calls), scripted("anchor", [0, 40], calls)),
        count=1,
        reps=1,
    )
    result = run(bench)
    assert "anker vs anchor: 4.00x better" in render(result)
    saved = json.loads(save(result, tmp_path).read_text())
    assert saved["sides"]["anker"]["samples"] == [10]
    assert saved["ratios_anker_over_side"] == {"anchor": 0.25}
    assert saved["machine"]["cpus"] == os.cpu_count()


def test_a_side_whose_library_is_missing_is_reported() -> None:
    side = Side("ghost", fixed(lambda count: 0.0), requires=("anker_no_such_module", "json"))
    bench = Benchmark("t", "test", "ms", False, (side,), count=1)
    assert missing_modules(bench) == {"ghost": ["anker_no_such_module"]}


# Every suite runs once here (about 80 s with the messaging suites): more than the default
# two minutes per test would leave as headroom.
@pytest.mark.timeout(360)
def test_every_benchmark_runs_once_in_the_bench_environment() -> None:
    """The smoke run: each benchmark, anker and anchors, once with a tiny count."""
    python = os.environ.get("ANKER_BENCH_PYTHON")
    if not python:
        pytest.skip(
            "the bench environment is not set up: run `make test` (sets ANKER_BENCH_PYTHON)"
        )
    listed = subprocess.run(
        [python, "-m", "bench", "--list"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    smoke = subprocess.run(
        [python, "-m", "bench", "--smoke", "--all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert smoke.returncode == 0, smoke.stderr
    for name in ("import", "bridge"):
        assert name in listed
        assert f"{name}: " in smoke.stdout
    assert smoke.stdout.count("anker vs ") >= 2
