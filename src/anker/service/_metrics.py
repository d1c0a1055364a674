"""Prometheus metrics in a registry the service owns (not prometheus-client's global one)."""

from __future__ import annotations

from typing import Any

from anker._drivers import require

__all__ = ["Metrics"]

_STATES = ("new", "starting", "running", "draining", "stopped")


class Metrics:
    """The service's metrics, in a registry of its own, so that tests and several services in
    one process never collide. Made by :attr:`Service.metrics`; served by :meth:`asgi_app`.
    Needs ``pip install 'anker[service]'``.

    - ``anker_service_state{state}``: 1 for the service's current state, 0 for the others
    - ``anker_service_reloads_total{outcome}``: reloads (SIGHUP), ``applied`` or ``refused``
    - ``anker_periodic_runs_total{task,outcome}``: periodic runs, ``ok``, ``failed``,
      ``skipped`` (not the leader)
    - ``anker_periodic_run_duration_seconds{task}``: how long each run took
    - ``anker_periodic_overruns_total{task}``: runs that outlasted their interval
    - ``anker_rpc_calls_total{method,outcome}`` and ``anker_rpc_call_duration_seconds{method}``:
      the calls the service's RPC servers handle (and what :meth:`observe_call` is given)

    ``registry`` is the ``prometheus_client.CollectorRegistry``: add a service's own metrics
    there.

    .. versionadded:: 0.1
    """

    def __init__(self) -> None:
        prometheus = require("prometheus_client", extra="service", needed_for="metrics")
        self.registry: Any = prometheus.CollectorRegistry()
        r = self.registry
        self.state = prometheus.Gauge(
            "anker_service_state", "1 for the service's current state", ["state"], registry=r
        )
        self.reloads = prometheus.Counter(
            "anker_service_reloads", "Configuration reloads", ["outcome"], registry=r
        )
        self.periodic_runs = prometheus.Counter(
            "anker_periodic_runs", "Runs of periodic tasks", ["task", "outcome"], registry=r
        )
        self.periodic_duration = prometheus.Histogram(
            "anker_periodic_run_duration_seconds",
            "Duration of periodic runs",
            ["task"],
            registry=r,
        )
        self.periodic_overruns = prometheus.Counter(
            "anker_periodic_overruns",
            "Periodic runs longer than their interval",
            ["task"],
            registry=r,
        )
        self.rpc_calls = prometheus.Counter(
            "anker_rpc_calls", "RPC calls handled", ["method", "outcome"], registry=r
        )
        self.rpc_duration = prometheus.Histogram(
            "anker_rpc_call_duration_seconds",
            "Duration of RPC calls handled",
            ["method"],
            registry=r,
        )
        self.set_state("new")

    def set_state(self, state: str) -> None:
        """Mark ``state`` as the service's current one."""
        for each in _STATES:
            self.state.labels(each).set(1 if each == state else 0)

    def observe_call(self, method: str, seconds: float, *, failed: bool = False) -> None:
        """Count one RPC call of ``method`` that took ``seconds``."""
        self.rpc_calls.labels(method, "failed" if failed else "ok").inc()
        self.rpc_duration.labels(method).observe(seconds)

    def asgi_app(self) -> Any:
        """An ASGI app answering ``GET /metrics`` (any path) in Prometheus' text format; serve it
        with :class:`~anker.service.ASGIServer` (``name="metrics"``) or mount it in an app."""
        prometheus = require("prometheus_client", extra="service", needed_for="metrics")
        return prometheus.make_asgi_app(self.registry)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format, as the endpoint serves them."""
        prometheus = require("prometheus_client", extra="service", needed_for="metrics")
        return prometheus.generate_latest(self.registry)  # type: ignore[no-any-return]
