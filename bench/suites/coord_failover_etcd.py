"""A SIGKILLed member leaving its group and its leadership, on etcd (see ``_failover``)."""

from __future__ import annotations

from bench.suites._failover import failover_benchmark

BENCHMARK = failover_benchmark("etcd")
