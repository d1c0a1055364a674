"""anker's per-step overhead on sqlite against flow size (see ``_workflow.py``)."""

from bench.suites._workflow import size_benchmark

BENCHMARK = size_benchmark("sqlite")
