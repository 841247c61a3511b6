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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from metrics.aggregate import (
    Aggregate,
    active_customers,
    aggregate_key,
    customer_periods,
    oldest_open_age,
    window_values,
    windows_sums,
)
from metrics.definitions import (
    COUNTERS,
    HISTOGRAMS,
    LABELS,
    PREFIX,
    RATIOS,
    WINDOWS,
    window_count_name,
)
from metrics.definitions import Histogram as HistogramSpec
from metrics.policy import Policy

# Counters here restart with the process or come from tables; `_created` series would only add noise.
disable_created_metrics()


def _le(bound: float) -> str:
    return repr(bound) if bound != int(bound) else f"{bound:.1f}"


class KpiCollector(Collector):
    """Builds every KPI family from the aggregates and buckets ``source`` yields at scrape time."""

    def __init__(
        self,
        source: Callable[[], Iterable[Aggregate]],
        bucket_seconds: int,
        policy: Policy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._bucket_seconds = bucket_seconds
        self._policy = policy
        self._clock = clock

    def describe(self) -> list[Metric]:
        # Families depend on live data; an empty description keeps registration cheap.
        return []

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        queues, customers = [], []
        buckets: dict[str, list[Aggregate]] = {}
        folded = CounterMetricFamily(
            PREFIX + "label_values_folded",
            'Fact messages counted under "other" because their queue or channel came past the cap.',
            labels=["label"],
        )
        folds: dict[str, int] = {"queue": 0, "channel": 0}
        for value in self._source():
            kind = value.get("kind")
            if "start" in value:
                buckets.setdefault(value["key"], []).append(value)
            elif kind == "customers":
                customers.append(value)
            elif kind == "labels":
                for label, n in value["folded"].items():
                    folds[label] += n
            else:
                queues.append(value)
        yield from self._queue_families(queues, buckets, now)
        yield from self._customer_families(customers, now)
        for label, n in folds.items():
            folded.add_metric([label], n)
        yield folded

    def _queue_families(
        self, aggregates: list[Aggregate], buckets: dict[str, list[Aggregate]], now: float
    ) -> Iterator[Metric]:
        wl = [*LABELS, "window"]
        totals = {c.key: CounterMetricFamily(c.name, c.help, labels=LABELS) for c in COUNTERS}
        hists = {h.key: HistogramMetricFamily(h.name, h.help, labels=LABELS) for h in HISTOGRAMS}
        window_counts = {
            c.key: GaugeMetricFamily(window_count_name(c), f"{c.help} Count over the window.", labels=wl)
            for c in COUNTERS
        }
        derived = {r.key: GaugeMetricFamily(r.name, r.help, labels=wl) for r in RATIOS}
        for h in HISTOGRAMS:
            derived[h.key + ":mean"] = GaugeMetricFamily(h.mean_name, h.mean_help, labels=wl)
            for q in h.quantiles:
                help_ = f"{q:.0%} quantile of {h.key} in the window, estimated from histogram buckets."
                derived[f"{h.key}:q{q}"] = GaugeMetricFamily(h.quantile_name(q), help_, labels=wl)
        derived["active_agents"] = GaugeMetricFamily(
            PREFIX + "window_active_agents",
            "Distinct agents who did KPI-counted work in the window.",
            labels=wl,
        )
        derived["resolutions_per_agent_hour"] = GaugeMetricFamily(
            PREFIX + "resolutions_per_agent_hour",
            "Conversations handled (tickets resolved + calls handled) per active agent-hour in the window.",
            labels=wl,
        )
        derived["cost_per_conversation"] = GaugeMetricFamily(
            PREFIX + "cost_per_conversation",
            "Support cost (active agent-hours × hourly cost) ÷ conversations handled in the window.",
            labels=wl,
        )
        backlog = GaugeMetricFamily(
            PREFIX + "tickets_open", "Open tickets (active issues) now.", labels=LABELS
        )
        oldest = GaugeMetricFamily(
            PREFIX + "oldest_open_ticket_age_seconds",
            "Age of the oldest open ticket (or of its current open period, after a reopen).",
            labels=LABELS,
        )
        late = CounterMetricFamily(
            PREFIX + "events_late",
            "Events (KPI facts) that arrived after their window closed: in the totals, in no window.",
            labels=LABELS,
        )
        for agg in aggregates:
            labels = [agg["queue"], agg["channel"]]
            agg_totals = agg["totals"]
            for key, family in totals.items():
                family.add_metric(labels, agg_totals.get(key, 0))
            for spec in HISTOGRAMS:
                hists[spec.key].add_metric(labels, *_histogram(spec, agg["hist"].get(spec.key)))
            backlog.add_metric(labels, agg_totals.get("tickets_open", 0))
            age = oldest_open_age(agg, now)
            if age is not None:
                oldest.add_metric(labels, age)
            late.add_metric(labels, agg["late"])
            hourly_cost = self._policy.for_queue(agg["queue"]).hourly_cost
            all_sums = windows_sums(buckets.get(aggregate_key(agg), ()), now, WINDOWS, self._bucket_seconds)
            for window, seconds in WINDOWS.items():
                values = window_values(all_sums[window], seconds, hourly_cost)
                wlabels = [*labels, window]
                for key, family in window_counts.items():
                    family.add_metric(wlabels, values[key])
                for key, family in derived.items():
                    if key in values:
                        family.add_metric(wlabels, values[key])
        yield from totals.values()
        yield from hists.values()
        yield backlog
        yield oldest
        yield late
        yield from window_counts.values()
        yield from derived.values()

    def _customer_families(self, aggregates: list[Aggregate], now: float) -> Iterator[Metric]:
        base = self._policy.customer_base
        joined = CounterMetricFamily(PREFIX + "customers_joined", "Customers who joined.")
        churned = CounterMetricFamily(PREFIX + "customers_churned", "Customers who churned.")
        active = GaugeMetricFamily(
            PREFIX + "customers_active", "Customers now: the base plus joins minus churns."
        )
        retention = GaugeMetricFamily(
            PREFIX + "customer_retention_ratio",
            "Customer retention rate (CE − CN) ÷ CS of the period (UTC day or month; ×100 for %).",
            labels=["period"],
        )
        churn = GaugeMetricFamily(
            PREFIX + "customer_churn_ratio",
            "Customers churned in the period ÷ customers at its start.",
            labels=["period"],
        )
        for agg in aggregates:
            joined.add_metric([], agg["totals"].get("customers_joined", 0))
            churned.add_metric([], agg["totals"].get("customers_churned", 0))
            active.add_metric([], active_customers(agg, base))
            for period, (crr, churn_ratio) in customer_periods(agg, now, base).items():
                retention.add_metric([period], crr)
                churn.add_metric([period], churn_ratio)
        yield from (joined, churned, active, retention, churn)


def _histogram(spec: HistogramSpec, row: list[float] | None) -> tuple[list[tuple[str, float]], float]:
    if row is None:
        row = [0] * (len(spec.buckets) + 1) + [0.0]
    cumulative, running = [], 0.0
    for bound, count in zip([*spec.buckets, float("inf")], row[:-1], strict=True):
        running += count
        cumulative.append(("+Inf" if bound == float("inf") else _le(bound), running))
    return cumulative, row[-1]


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
        self.fact_messages = Counter(
            PREFIX + "fact_messages",
            "Source records whose KPI facts the aggregation applied (replays it dropped are not counted).",
            registry=self.registry,
        )
        self.out_of_order = Counter(
            PREFIX + "records_out_of_order",
            "Records refused because an earlier record of their partition was not processed yet "
            "(set aside by a rebalance); the partition is read again from the missing one.",
            ["topic"],
            registry=self.registry,
        )
        self.rebalances = Counter(
            PREFIX + "worker_rebalances",
            "Consumer group rebalances this worker went through.",
            registry=self.registry,
        )
        self.delay = Histogram(
            PREFIX + "event_delay_seconds",
            "Time from an event's occurred_at to its processing by this worker (freshness of the KPIs).",
            buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
            registry=self.registry,
        )
        self.expired = Counter(
            PREFIX + "entities_expired",
            "Ticket, call, survey-subject and customer states deleted after their retention.",
            registry=self.registry,
        )
        self.broker_up = Gauge(
            PREFIX + "broker_up",
            "1 if this worker reached a Kafka bootstrap server at its last check (every 2 s), else 0.",
            registry=self.registry,
        )
        self.ready = Gauge(
            PREFIX + "worker_ready",
            "1 if this worker is in its group with its assignment, its tables rebuilt and a broker "
            "reachable (what /ready answers 200 to), else 0.",
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
