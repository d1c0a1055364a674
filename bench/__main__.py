"""python -m bench [NAME ...] [--reps N] [--count N] [--smoke] [--list]

Runs each named benchmark (all with --all) for anker and its anchors side by side, prints a
table of medians with the ratio anker/anchor, and writes the raw samples to bench/results/.
--smoke runs each once with a tiny count and saves nothing: it proves the benchmark still
works, and measures nothing worth quoting. A benchmark whose server is not reachable is
skipped by --smoke (unless ANKER_REQUIRE_SERVICES is set, as in CI) and fails otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from bench import suites
from bench._harness import Benchmark, Unavailable, missing_modules, render, run, save


def discover() -> dict[str, Benchmark]:
    found = {}
    for module in pkgutil.iter_modules(suites.__path__):
        if module.name.startswith("_"):
            continue  # helpers shared by several benchmarks
        benchmark = importlib.import_module(f"bench.suites.{module.name}").BENCHMARK
        found[benchmark.name] = benchmark
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run")
    parser.add_argument("--all", action="store_true", help="run every benchmark")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--reps", type=int, help="repetitions per side (default: per benchmark)")
    parser.add_argument("--count", type=int, help="workload size per repetition")
    parser.add_argument("--smoke", action="store_true", help="one tiny run each, nothing saved")
    args = parser.parse_args(argv)

    benchmarks = discover()
    if args.list:
        for name, benchmark in sorted(benchmarks.items()):
            print(f"{name:<16} {benchmark.description}")
        return 0
    names = sorted(benchmarks) if args.all else args.names
    if not names:
        parser.error("name a benchmark (see --list) or pass --all")
    if unknown := [name for name in names if name not in benchmarks]:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(benchmarks)}")

    for name in names:
        benchmark = benchmarks[name]
        if missing := missing_modules(benchmark):
            detail = "; ".join(f"{side} needs {', '.join(mods)}" for side, mods in missing.items())
            print(f"{name}: cannot run here ({detail}); run it with `make bench`", file=sys.stderr)
            return 1
        reps = 1 if args.smoke else args.reps
        count = benchmark.smoke_count if args.smoke else args.count
        try:
            result = run(
                benchmark,
                reps=reps,
                count=count,
                progress=lambda line: print(line, flush=True),
                smoke=args.smoke,
            )
        except Unavailable as exc:
            if args.smoke and not os.environ.get("ANKER_REQUIRE_SERVICES"):
                print(f"{name}: skipped ({exc})\n", flush=True)
                continue
            print(f"{name}: cannot run here ({exc})", file=sys.stderr)
            return 1
        print(render(result), flush=True)
        if not args.smoke:
            print(f"  raw results: {save(result)}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
