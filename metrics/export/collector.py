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

from prometheus_client import disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from metrics.aggregates.customers import active_customers, customer_periods
from metrics.aggregates.queue import Aggregate, aggregate_key, level_count, oldest_age
from metrics.aggregates.windows import window_values, windows_sums
from metrics.definitions import (
    AGENT_STATES,
    AGENTS,
    CALLS_WAITING,
    COUNTERS,
    CUSTOMER_CHURN,
    CUSTOMER_RETENTION,
    CUSTOMERS_ACTIVE,
    CUSTOMERS_CHURNED,
    CUSTOMERS_JOINED,
    EVENTS_LATE,
    HISTOGRAMS,
    LABEL_VALUES_FOLDED,
    LABELS,
    LEVEL_CALLS_WAITING,
    LEVEL_TICKETS_OPEN,
    LONGEST_CALL_WAIT,
    OLDEST_NEW_TICKET,
    OLDEST_OPEN_TICKET,
    RATIOS,
    STAFFED_STATES,
    STAFFING,
    STAFFING_WINDOW,
    TICKET_STATUSES,
    TICKETS_BY_STATUS,
    TICKETS_OPEN,
    WAITING_HORIZON_SECONDS,
    WINDOW_LABELS,
    WINDOWS,
    WORK_MEASURES,
    Series,
    agent_level,
    quantile_help,
    status_level,
    window_count_help,
    window_count_name,
)
from metrics.definitions import Histogram as HistogramSpec
from metrics.policy import Policy, QueuePolicy
from metrics.staffing import live_staffing

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
        folded = declared(LABEL_VALUES_FOLDED)
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
        wl = WINDOW_LABELS
        totals = {c.key: CounterMetricFamily(c.name, c.help, labels=LABELS) for c in COUNTERS}
        hists = {h.key: HistogramMetricFamily(h.name, h.help, labels=LABELS) for h in HISTOGRAMS}
        window_counts = {
            c.key: GaugeMetricFamily(window_count_name(c), window_count_help(c), labels=wl) for c in COUNTERS
        }
        derived = {r.key: GaugeMetricFamily(r.name, r.help, labels=wl) for r in RATIOS}
        for h in HISTOGRAMS:
            derived[h.key + ":mean"] = GaugeMetricFamily(h.mean_name, h.mean_help, labels=wl)
            for q in h.quantiles:
                derived[f"{h.key}:q{q}"] = GaugeMetricFamily(
                    h.quantile_name(q), quantile_help(h, q), labels=wl
                )
        derived.update({key: declared(series) for key, series in WORK_MEASURES.items()})
        staffing = {key: declared(series) for key, series in STAFFING.items()}
        backlog, oldest, late = declared(TICKETS_OPEN), declared(OLDEST_OPEN_TICKET), declared(EVENTS_LATE)
        by_status, oldest_new = declared(TICKETS_BY_STATUS), declared(OLDEST_NEW_TICKET)
        waiting, longest_wait = declared(CALLS_WAITING), declared(LONGEST_CALL_WAIT)
        agents = declared(AGENTS)
        for agg in aggregates:
            labels = [agg["queue"], agg["channel"]]
            agg_totals = agg["totals"]
            for key, family in totals.items():
                family.add_metric(labels, agg_totals.get(key, 0))
            rules = self._policy.for_queue(agg["queue"])
            for spec in HISTOGRAMS:
                if not spec.business or rules.calendar is not None:
                    hists[spec.key].add_metric(labels, *_histogram(spec, agg["hist"].get(spec.key)))
            backlog.add_metric(labels, agg_totals.get(LEVEL_TICKETS_OPEN, 0))
            age = oldest_age(agg, LEVEL_TICKETS_OPEN, now)
            if age is not None:
                oldest.add_metric(labels, age)
            for status in TICKET_STATUSES:
                by_status.add_metric([*labels, status], agg_totals.get(status_level(status), 0))
            oldest_new.add_metric(labels, oldest_age(agg, status_level("new"), now) or 0.0)
            waiting.add_metric(labels, level_count(agg, LEVEL_CALLS_WAITING, now, WAITING_HORIZON_SECONDS))
            longest = oldest_age(agg, LEVEL_CALLS_WAITING, now, WAITING_HORIZON_SECONDS)
            longest_wait.add_metric(labels, longest or 0.0)
            for state in AGENT_STATES:
                agents.add_metric([*labels, state], agg_totals.get(agent_level(state), 0))
            late.add_metric(labels, agg["late"])
            hourly_cost = rules.hourly_cost
            all_sums = windows_sums(buckets.get(aggregate_key(agg), ()), now, WINDOWS, self._bucket_seconds)
            for key, value in self._staffing(agg, all_sums[STAFFING_WINDOW], rules).items():
                staffing[key].add_metric(labels, value)
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
        yield from (backlog, oldest, by_status, oldest_new, waiting, longest_wait, agents, late)
        yield from window_counts.values()
        yield from derived.values()
        yield from staffing.values()

    @staticmethod
    def _staffing(agg: Aggregate, sums: dict[str, float], rules: QueuePolicy) -> dict[str, float]:
        """Erlang C now, for a queue with calls offered in the staffing window and a known handle time."""
        offered = sums.get("calls_offered", 0)
        count, total = sums.get("call_handle_seconds:count", 0), sums.get("call_handle_seconds:sum", 0.0)
        if not count:  # no call ended in the window: the mean handle time so far
            row = agg["hist"].get("call_handle_seconds")
            count, total = (sum(row[:-1]), row[-1]) if row else (0, 0.0)
        if not offered or not count or total <= 0:
            return {}
        totals = agg["totals"]
        staffed = None
        if any(agent_level(state) in totals for state in AGENT_STATES):  # agent states seen here
            staffed = int(sum(totals.get(agent_level(state), 0) for state in STAFFED_STATES))
        return live_staffing(offered, WINDOWS[STAFFING_WINDOW], total / count, staffed, rules)

    def _customer_families(self, aggregates: list[Aggregate], now: float) -> Iterator[Metric]:
        base = self._policy.customer_base
        joined, churned, active = (
            declared(CUSTOMERS_JOINED),
            declared(CUSTOMERS_CHURNED),
            declared(CUSTOMERS_ACTIVE),
        )
        retention, churn = declared(CUSTOMER_RETENTION), declared(CUSTOMER_CHURN)
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


def declared(series: Series) -> Metric:
    """An empty family for a declared series, to be filled at scrape time."""
    kinds = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily}
    return kinds[series.kind](series.name, series.help, labels=list(series.labels))
