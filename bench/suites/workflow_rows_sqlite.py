"""anker's per-step overhead on sqlite against the number of finished runs in the store
(see ``_workflow.py``)."""

from bench.suites._workflow import rows_benchmark

BENCHMARK = rows_benchmark("sqlite")
