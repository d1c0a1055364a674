"""Per-step overhead of durable workflows on sqlite:
anker, DBOS, taskflow (see ``_workflow.py``)."""

from bench.suites._workflow import steps_benchmark

BENCHMARK = steps_benchmark("sqlite")
