"""Prometheus export: KPI series read from the aggregates, plus the worker's own counters.

Everything is registered in a registry the caller owns (never the global default), so
several workers can live in one process in tests. KPI series are built at scrape time
from whichever aggregates the caller hands over: the worker hands only those of the
partitions it owns right now, so a revoked partition's series vanish with the next
scrape and no queue is ever exported by two workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from metrics.aggregate import Aggregate, window_sums, window_values
from metrics.definitions import COUNTERS, HISTOGRAMS, LABELS, PREFIX, RATIOS, WINDOWS, window_count_name


def _le(bound: float) -> str:
    return repr(bound) if bound != int(bound) else f"{bound:.1f}"


class KpiCollector(Collector):
    """Builds every KPI family from the aggregates ``source`` yields at scrape time."""

    def __init__(
        self,
        source: Callable[[], Iterable[Aggregate]],
        bucket_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._bucket_seconds = bucket_seconds
        self._clock = clock

    def describe(self) -> list[Metric]:
        # Families depend on live data; an empty description keeps registration cheap.
        return []

    def collect(self) -> Iterator[Metric]:
        aggregates = list(self._source())
        now = self._clock()
        window_labels = [*LABELS, "window"]
        totals = {c.key: CounterMetricFamily(c.name, c.help, labels=LABELS) for c in COUNTERS}
        hists = {h.key: HistogramMetricFamily(h.name, h.help, labels=LABELS) for h in HISTOGRAMS}
        window_counts = {
            c.key: GaugeMetricFamily(
                window_count_name(c), f"{c.help} Count over the window.", labels=window_labels
            )
            for c in COUNTERS
        }
        ratios = {r.key: GaugeMetricFamily(r.name, r.help, labels=window_labels) for r in RATIOS}
        means = {h.key: GaugeMetricFamily(h.mean_name, h.mean_help, labels=window_labels) for h in HISTOGRAMS}
        late = CounterMetricFamily(
            PREFIX + "facts_late",
            "KPI facts that arrived after their window closed: in the totals, not in any window.",
            labels=LABELS,
        )
        for agg in aggregates:
            labels = [agg["queue"], agg["channel"]]
            for key, family in totals.items():
                family.add_metric(labels, agg["totals"].get(key, 0))
            for spec in HISTOGRAMS:
                row = agg["hist"].get(spec.key)
                if row is None:
                    row = [0] * (len(spec.buckets) + 1) + [0.0]
                cumulative, running = [], 0
                for bound, count in zip([*spec.buckets, float("inf")], row[:-1], strict=True):
                    running += count
                    cumulative.append(("+Inf" if bound == float("inf") else _le(bound), running))
                hists[spec.key].add_metric(labels, cumulative, row[-1])
            late.add_metric(labels, agg["late"])
            for window, seconds in WINDOWS.items():
                values = window_values(window_sums(agg, now, seconds, self._bucket_seconds))
                wlabels = [*labels, window]
                for key, family in window_counts.items():
                    family.add_metric(wlabels, values[key])
                for key, family in ratios.items():
                    if key in values:
                        family.add_metric(wlabels, values[key])
                for key, family in means.items():
                    if key + ":mean" in values:
                        family.add_metric(wlabels, values[key + ":mean"])
        yield from totals.values()
        yield from hists.values()
        yield late
        yield from window_counts.values()
        yield from ratios.values()
        yield from means.values()


class WorkerMetrics:
    """The registry one worker serves, with its operational counters.

    Events seen, invalid events and duplicates are counted per process (like any
    request counter they restart at 0 with the process; use ``rate()``), while KPI
    counters come from the replicated aggregates through :class:`KpiCollector`.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.events = Counter(
            PREFIX + "events",
            "Valid events consumed, by topic and type.",
            ["topic", "type"],
            registry=self.registry,
        )
        self.invalid = Counter(
            PREFIX + "events_invalid",
            "Events rejected by validation and parked on the dead-letter topic, by reason.",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            PREFIX + "events_duplicate",
            "Events whose event_id was already processed for the same ticket or call; counted once.",
            ["topic"],
            registry=self.registry,
        )
        self.assigned = Gauge(
            PREFIX + "worker_assigned_partitions",
            "Partitions of the KPI fact stream this worker currently owns and exports.",
            registry=self.registry,
        )
        self._event_children: dict[tuple[str, str], Callable[[], None]] = {}

    def count_event(self, topic: str, type_: str) -> None:
        """Hot path: one cached child per (topic, type) instead of ``labels()`` per event."""
        inc = self._event_children.get((topic, type_))
        if inc is None:
            inc = self._event_children[(topic, type_)] = self.events.labels(topic, type_).inc
        inc()

    def add_kpis(self, collector: KpiCollector) -> None:
        self.registry.register(collector)
