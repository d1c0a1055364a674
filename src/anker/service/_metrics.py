"""Prometheus metrics in a registry the service owns (not prometheus-client's global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    - ``anker_messages_in_flight{component}``: messages being handled now by each of the
      service's RPC servers and notification listeners (read at each scrape)
    - ``anker_lock_wait_seconds{kind,backend,outcome}``: waits for locks, semaphores and
      read-write locks (``acquired``, ``timeout``, ``failed``); ``anker_lock_hold_seconds
      {kind,backend}``: how long they were held
    - ``anker_quota_claims_total{store,outcome}`` (``granted``, ``refused``, ``failed``) and
      ``anker_quota_claim_duration_seconds{store}``
    - ``anker_workflow_runs_total{workflow,state}``: runs that ended, by end state;
      ``anker_workflow_run_duration_seconds{workflow}``: from creation to end
    - ``anker_messages_refused_total{cause}``: messages refused before dispatch by signature
      checks (``unsigned``, ``tampered``, ``expired``, ``replayed``, ``misrouted``,
      ``unknown key``, ``malformed``)
    - ``anker_health_check_status{check}``: 1 if the check passes (``warn`` included), 0 if
      it fails, for a service with a health registry (read at each scrape)

    The lock, quota and workflow measurements come from every part in the process while the
    service runs (see :meth:`record`).

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
        self.lock_wait = prometheus.Histogram(
            "anker_lock_wait_seconds",
            "Waits for locks, semaphores and read-write locks",
            ["kind", "backend", "outcome"],
            registry=r,
        )
        self.lock_hold = prometheus.Histogram(
            "anker_lock_hold_seconds", "How long locks were held", ["kind", "backend"], registry=r
        )
        self.quota_claims = prometheus.Counter(
            "anker_quota_claims", "Quota claims", ["store", "outcome"], registry=r
        )
        self.quota_duration = prometheus.Histogram(
            "anker_quota_claim_duration_seconds", "Duration of quota claims", ["store"], registry=r
        )
        self.workflow_runs = prometheus.Counter(
            "anker_workflow_runs", "Workflow runs that ended", ["workflow", "state"], registry=r
        )
        self.workflow_duration = prometheus.Histogram(
            "anker_workflow_run_duration_seconds",
            "Workflow runs from creation to end",
            ["workflow"],
            registry=r,
        )
        self.messages_refused = prometheus.Counter(
            "anker_messages_refused",
            "Messages refused before dispatch (signing: unsigned, tampered, expired...)",
            ["cause"],
            registry=r,
        )
        self._gauges: dict[str, tuple[str, str, Callable[[], dict[str, float]]]] = {}
        r.register(_Gauges(self._gauges))
        self.set_state("new")

    def gauge(
        self, name: str, documentation: str, label: str, read: Callable[[], dict[str, float]]
    ) -> None:
        """A gauge ``name`` read at each scrape: ``read()`` gives a value per ``label`` value."""
        self._gauges[name] = (documentation, label, read)

    def watch(self, components: Callable[[], list[Any]], health: Any = None) -> None:
        """Read at each scrape the messages in flight of ``components()`` (those that consume
        messages) and the check statuses of ``health`` (a registry, if any)."""

        def in_flight() -> dict[str, float]:
            counts = {}
            for component in components():
                running = getattr(getattr(component, "consumer", None), "_running", None)
                if running is not None:
                    counts[component.name] = float(len(running))
            return counts

        self.gauge("anker_messages_in_flight", "Messages being handled now", "component", in_flight)
        if health is not None:
            self.gauge(
                "anker_health_check_status",
                "1 if the check passes (or warns), 0 if it fails",
                "check",
                lambda: {
                    name: 0.0 if status == "fail" else 1.0
                    for name, status in health.statuses().items()
                },
            )

    def record(self, name: str, value: float, labels: dict[str, str]) -> None:
        """Take one measurement a part reported (``anker._observe``): lock waits and holds,
        quota claims, workflow runs; others are ignored."""
        if name == "lock.wait":
            self.lock_wait.labels(labels["kind"], labels["backend"], labels["outcome"]).observe(
                value
            )
        elif name == "lock.hold":
            self.lock_hold.labels(labels["kind"], labels["backend"]).observe(value)
        elif name == "quota.claim":
            self.quota_claims.labels(labels["store"], labels["outcome"]).inc()
            self.quota_duration.labels(labels["store"]).observe(value)
        elif name == "messaging.refused":
            self.messages_refused.labels(labels["cause"]).inc(value)
        elif name == "workflow.run":
            self.workflow_runs.labels(labels["workflow"], labels["state"]).inc()
            self.workflow_duration.labels(labels["workflow"]).observe(value)

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
        with :class:`~anker.service.ASGIServer` (``name="metrics"``). In an app of your own,
        answer a ``/metrics`` route with :meth:`exposition` instead: Starlette's ``Mount`` at
        ``/metrics`` answers ``/metrics`` itself with a redirect to ``/metrics/``, which
        scrapers and ``curl`` without ``-L`` do not follow."""
        prometheus = require("prometheus_client", extra="service", needed_for="metrics")
        return prometheus.make_asgi_app(self.registry)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format, as the endpoint serves them."""
        prometheus = require("prometheus_client", extra="service", needed_for="metrics")
        return prometheus.generate_latest(self.registry)  # type: ignore[no-any-return]


class _Gauges:
    """A collector of gauges whose values are read when Prometheus scrapes."""

    def __init__(self, gauges: dict[str, tuple[str, str, Callable[[], dict[str, float]]]]) -> None:
        self.gauges = gauges

    def describe(self) -> list[Any]:
        return []  # values come at collection only: nothing to check at registration

    def collect(self) -> Iterator[Any]:
        family_of = require(
            "prometheus_client.core", extra="service", needed_for="metrics"
        ).GaugeMetricFamily
        for name, (documentation, label, read) in list(self.gauges.items()):
            family = family_of(name, documentation, labels=[label])
            for value_of_label, value in sorted(read().items()):
                family.add_metric([value_of_label], value)
            yield family
