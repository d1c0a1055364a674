"""Claims per second under contention on sqlite: anker's atomic claim against oslo.limit's
enforce() plus a usage count (see ``_limits.py``)."""

from bench.suites._limits import claims_benchmark

BENCHMARK = claims_benchmark("sqlite")
