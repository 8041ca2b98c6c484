"""The operator's Prometheus metrics (names fixed in docs/INTERFACES.md), with prometheus-client.

- ``kiln_operator_reconciliations_total{kind,result}``: every handler run; result is
  ``success``, ``invalid`` (bad spec, reported and not retried) or ``error`` (retried).
- ``kiln_operator_reconcile_errors_total{kind,reason}``: failures by reason (``InvalidSpec``,
  ``Refused``, ``Retryable``, ``NotOwned``, ``Unexpected``).
- ``kiln_operator_reconcile_duration_seconds{kind}``: handler time, histogram.
- ``kiln_operator_objects{kind,phase}``: Kiln objects this operator knows, by phase. Counted
  at scrape time from a small in-memory table that handlers update, so a deleted object stops
  counting at once and no gauge child is left behind with a stale value.

Labels stay bounded: two kinds, a handful of results, reasons and phases.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _Objects(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phases: dict[tuple[str, str, str], str] = {}

    def set(self, kind: str, namespace: str, name: str, phase: str) -> None:
        with self._lock:
            self._phases[(kind, namespace, name)] = phase

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            self._phases.pop((kind, namespace, name), None)

    def count(self) -> int:
        with self._lock:
            return len(self._phases)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            tally = Tally((kind, phase) for (kind, _, _), phase in self._phases.items())
        family = GaugeMetricFamily(
            "kiln_operator_objects", "Kiln objects by kind and phase", labels=["kind", "phase"]
        )
        for (kind, phase), count in sorted(tally.items()):
            family.add_metric([kind, phase], count)
        yield family


class OperatorMetrics:
    """All operator metrics on one registry (tests pass a fresh ``CollectorRegistry``)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.reconciliations = Counter(
            "kiln_operator_reconciliations",
            "Reconciliations by kind and result",
            ["kind", "result"],
            registry=registry,
        )
        self.errors = Counter(
            "kiln_operator_reconcile_errors",
            "Failed reconciliations by kind and reason",
            ["kind", "reason"],
            registry=registry,
        )
        self.duration = Histogram(
            "kiln_operator_reconcile_duration_seconds",
            "Time spent in one reconciliation",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.objects = _Objects()
        registry.register(self.objects)

    @contextmanager
    def reconciling(self, kind: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.duration.labels(kind=kind).observe(time.perf_counter() - start)

    def result(self, kind: str, result: str, reason: str | None = None) -> None:
        self.reconciliations.labels(kind=kind, result=result).inc()
        if reason is not None:
            self.errors.labels(kind=kind, reason=reason).inc()


_default: OperatorMetrics | None = None
_default_lock = threading.Lock()


def default() -> OperatorMetrics:
    """The process-wide metrics on prometheus-client's default registry (created once)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = OperatorMetrics()
        return _default


def serve(port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Expose ``/metrics`` on ``port`` (all interfaces: the chart's ServiceMonitor scrapes it)."""
    start_http_server(port, registry=registry)
