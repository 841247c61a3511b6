"""The registry one worker serves, with its operational series (declared in :mod:`metrics.definitions`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

from metrics.definitions import WORKER_SERIES, Series


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
        self.registry = CollectorRegistry(auto_describe=False)
        made = {key: metric_for(series, self.registry) for key, series in WORKER_SERIES.items()}
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
        self.registry.register(collector)
