"""anker's per-step overhead on postgresql against flow size (see ``_workflow.py``)."""

from bench.suites._workflow import size_benchmark

BENCHMARK = size_benchmark("postgresql")
