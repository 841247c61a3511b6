"""The registry one worker serves, with its operational series (declared in :mod:`metrics.definitions`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from metrics.definitions import WORKER_SERIES, Series
from metrics.export.text import render


def metric_for(series: Series, registry: CollectorRegistry) -> Any:
    """A prometheus_client metric for a declared series, registered in ``registry``."""
    if series.kind == "histogram":
        return Histogram(series.name, series.help, series.labels, buckets=series.buckets, registry=registry)
    kind = Counter if series.kind == "counter" else Gauge
    return kind(series.name, series.help, series.labels, registry=registry)


class WorkerMetrics:
    """The registry one worker serves, with its operational counters.

    Events seen, invalid events and duplicates are counted per process (like any
    request counter they restart at 0 with the process; use ``rate()``), while KPI
    counters come from the replicated aggregates through :class:`KpiCollector`.
    """

    def __init__(self) -> None:
        self._own = CollectorRegistry(auto_describe=False)
        # Everything the worker serves, for clients of the library (tests, push gateways).
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Forward(self._own))
        self._kpis: list[Any] = []
        made = {key: metric_for(series, self._own) for key, series in WORKER_SERIES.items()}
        self.events = made["events"]
        self.invalid = made["events_invalid"]
        self.duplicates = made["events_duplicate"]
        self.fact_messages = made["fact_messages"]
        self.out_of_order = made["records_out_of_order"]
        self.rebalances = made["worker_rebalances"]
        self.delay = made["event_delay_seconds"]
        self.expired = made["entities_expired"]
        self.broker_up = made["broker_up"]
        self.ready = made["worker_ready"]
        self.assigned = made["worker_assigned_partitions"]
        self._event_children: dict[tuple[str, str], Callable[[], None]] = {}

    def count_event(self, topic: str, type_: str) -> None:
        """Hot path: one cached child per (topic, type) instead of ``labels()`` per event."""
        inc = self._event_children.get((topic, type_))
        if inc is None:
            inc = self._event_children[(topic, type_)] = self.events.labels(topic, type_).inc
        inc()

    def add_kpis(self, collector: Collector) -> None:
        """Add a KPI collector; one with a ``text()`` method is rendered by it directly on the page."""
        self.registry.register(collector)
        self._kpis.append(collector)

    def page(self) -> bytes:
        """``/metrics``: the same bytes as ``generate_latest(self.registry)``, the KPI part written
        directly (:meth:`metrics.export.collector.KpiCollector.text`) to keep a scrape's pause short."""
        parts = [render(self._own)]
        for collector in self._kpis:
            text = getattr(collector, "text", None)
            parts.append(text().encode() if text is not None else render(_Forward(collector)))
        return b"".join(parts)


class _Forward(Collector):
    """Another collector's (or registry's) families, registered as one collector."""

    def __init__(self, source: Collector) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        return iter(self._source.collect())

    def describe(self) -> list[Metric]:
        return []
