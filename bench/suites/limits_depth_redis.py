"""anker's claim rate on redis at tree depth 1, 3 and 6 (see ``_limits.py``)."""

from bench.suites._limits import depth_benchmark

BENCHMARK = depth_benchmark("redis")
