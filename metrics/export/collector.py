"""Prometheus export: KPI series read from the aggregates, plus the worker's own counters.

Everything is registered in a registry the caller owns (never the global default), so
several workers can live in one process in tests. KPI series are built at scrape time
from whichever aggregates the caller hands over: the worker hands only those of the
partitions it owns right now, so a revoked partition's series vanish with the next
scrape and no queue is ever exported by two workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import accumulate
from typing import NamedTuple

from prometheus_client import disable_created_metrics
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from metrics.aggregates.customers import active_customers, customer_periods
from metrics.aggregates.queue import aggregate_key, level_count, oldest_age, oldest_start
from metrics.aggregates.today import today_counts
from metrics.aggregates.windows import SettledWindows, recent_sums, window_values
from metrics.definitions import (
    AGENT_HORIZON_SECONDS,
    AGENT_STATES,
    AGENTS,
    AGENTS_MISSING_OFFERS,
    BY_PRIORITY,
    CALLS_WAITING,
    COUNTERS,
    CUSTOMER_CHURN,
    CUSTOMER_RETENTION,
    CUSTOMERS_ACTIVE,
    CUSTOMERS_CHURNED,
    CUSTOMERS_JOINED,
    EVENTS_LATE,
    FORECAST,
    HISTOGRAMS,
    LABEL_VALUES_FOLDED,
    LABELS,
    LEVEL_AGENTS_MISSING_OFFERS,
    LEVEL_CALLS_WAITING,
    LEVEL_TICKETS_OPEN,
    LONGEST_CALL_WAIT,
    OLDEST_NEW_TICKET,
    OLDEST_OPEN_TICKET,
    QUEUE_OPEN,
    QUEUE_OPEN_SHARE,
    QUEUE_OPEN_SINCE,
    QUEUE_TARGETS,
    RATIOS,
    STAFFED_STATES,
    STAFFING,
    STAFFING_WINDOW,
    TICKET_STATUSES,
    TICKETS_BY_STATUS,
    TICKETS_OPEN,
    TODAY,
    TODAY_START,
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
from metrics.documents import Aggregate
from metrics.export.forecast_series import Outlook
from metrics.export.sinks import F, Families, Sink, Text
from metrics.policy import Policy, QueuePolicy
from metrics.staffing import live_staffing

# Counters here restart with the process or come from tables; `_created` series would only add noise.
disable_created_metrics()


def _le(bound: float) -> str:
    return repr(bound) if bound != int(bound) else f"{bound:.1f}"


# A replay's snapshot: the aggregates facts reached since the previous one, each with the
# earliest event time among those facts.
Changed = Mapping[str, float]


class Holdings(NamedTuple):
    """A table's records by kind: what a scrape reads."""

    queues: list[Aggregate]
    customers: list[Aggregate]
    buckets: dict[str, Sequence[Aggregate]]  # by aggregate key, oldest first
    history: dict[str, list[Aggregate]]  # by aggregate key: its day records, oldest first
    folds: dict[str, int]  # label values folded into "other", by label


def holdings(values: Iterable[Aggregate]) -> Holdings:
    """A table's records sorted by kind (a source that keeps them apart hands over
    :class:`Holdings` itself: a replay's snapshot every minute would sort thousands each time)."""
    queues, customers = [], []
    buckets: dict[str, list[Aggregate]] = {}
    history: dict[str, list[Aggregate]] = {}
    folds = {"queue": 0, "channel": 0}
    for value in values:
        kind = value.get("kind")
        if "start" in value:
            buckets.setdefault(value["key"], []).append(value)
        elif kind == "arrivals":
            history.setdefault(value["key"], []).append(value)
        elif kind == "customers":
            customers.append(value)
        elif kind == "labels":
            for label, n in value["folded"].items():
                folds[label] += n
        else:
            queues.append(value)
    for held in buckets.values():
        held.sort(key=_start)  # sums over them in one order, whichever way they were found
    for days in history.values():
        days.sort(key=_day)
    return Holdings(queues, customers, dict(buckets), history, folds)


def _start(bucket: Aggregate) -> int:
    return bucket["start"]


def _day(record: Aggregate) -> int:
    return record["day"]


class KpiCollector(Collector):
    """Builds every KPI family from the aggregates and buckets ``source`` yields at scrape time."""

    def __init__(
        self,
        source: Callable[[], Iterable[Aggregate] | Holdings],
        bucket_seconds: int,
        policy: Policy,
        clock: Callable[[], float] = time.time,
        windows: dict[str, int] | None = None,
        window_counts: bool = True,
    ) -> None:
        """``windows`` (default: all of :data:`WINDOWS`) are those the windowed gauges are exported
        for, and ``window_counts`` whether counters also get a ``cxpulse_window_<counter>`` gauge:
        trimming them cuts the series a scrape carries; counters, histograms and levels stay."""
        self._source = source
        self._bucket_seconds = bucket_seconds
        self._policy = policy
        self._clock = clock
        self._windows = dict(WINDOWS) if windows is None else windows
        self._window_counts = window_counts
        self._sums = SettledWindows()
        self._rows: dict[tuple[str, str], tuple[float, ...] | None] = {}  # see _row_moved
        self._starts: dict[tuple[str, str], float | None] = {}  # see _oldest
        self._counted: dict[str, dict[str, float]] = {}  # see _queue_families
        self._today_shown: dict[str, float] = {}  # see _today_families
        self._outlook = Outlook(policy.forecast)
        self._forecasts: dict[str, tuple[list, int | None]] = {}  # see _forecast_families

    def describe(self) -> list[Metric]:
        # Families depend on live data; an empty description keeps registration cheap.
        return []

    def collect(self) -> Iterator[Metric]:
        sink = Families()
        self.emit(sink)
        yield from sink.results()

    def text(self) -> str:
        """The same series in the Prometheus text format, written directly (what a scrape serves)."""
        sink = Text()
        self.emit(sink)
        return sink.results()

    def emit(self, sink: Sink, changed: Changed | None = None) -> None:
        """Every KPI sample as of the clock, into ``sink`` (families, text, or a replay's writer).

        With ``changed`` (a replay's snapshots: :data:`Changed`), only the queue aggregates under
        those keys have their counters, histograms and levels emitted; every series that depends
        on the clock (ages, windows, staffing) is emitted for all. Samples come in groups, one
        per aggregate and kind, so a writer can tell a series that vanished from one not emitted.
        """
        now = self._clock()
        found = self._source()
        held = found if isinstance(found, Holdings) else holdings(found)
        queues = held.queues
        self._queue_families(sink, queues, held.buckets, now, changed)
        self._today_families(sink, queues, now, changed)
        self._forecast_families(sink, queues, held.history, now, changed)
        self._customer_families(sink, held.customers, now)
        self._queue_targets(sink, {agg["queue"] for agg in queues}, now)
        folded = declared(sink, LABEL_VALUES_FOLDED)
        sink.group("labels")
        for label, n in held.folds.items():
            sink.sample(folded, (label,), n)
        sink.finish()

    def _queue_families(
        self,
        sink: Sink,
        aggregates: list[Aggregate],
        buckets: dict[str, Sequence[Aggregate]],
        now: float,
        changed: Changed | None,
    ) -> None:
        wl = WINDOW_LABELS
        totals = {c.key: sink.family(c.name, c.help, "counter", LABELS) for c in COUNTERS}
        hists = {h.key: sink.family(h.name, h.help, "histogram", LABELS) for h in HISTOGRAMS}
        backlog, oldest = declared(sink, TICKETS_OPEN), declared(sink, OLDEST_OPEN_TICKET)
        by_status, oldest_new = declared(sink, TICKETS_BY_STATUS), declared(sink, OLDEST_NEW_TICKET)
        waiting, longest_wait = declared(sink, CALLS_WAITING), declared(sink, LONGEST_CALL_WAIT)
        agents, late = declared(sink, AGENTS), declared(sink, EVENTS_LATE)
        missing_offers = declared(sink, AGENTS_MISSING_OFFERS)
        by_priority = {key: declared(sink, series) for key, series in BY_PRIORITY.items()}
        window_counts = {
            c.key: sink.family(window_count_name(c), window_count_help(c), "gauge", wl)
            for c in (COUNTERS if self._window_counts else ())
        }
        derived = {r.key: sink.family(r.name, r.help, "gauge", wl) for r in RATIOS}
        for h in HISTOGRAMS:
            derived[h.key + ":mean"] = sink.family(h.mean_name, h.mean_help, "gauge", wl)
            for q in h.quantiles:
                derived[f"{h.key}:q{q}"] = sink.family(h.quantile_name(q), quantile_help(h, q), "gauge", wl)
        derived.update({key: declared(sink, series) for key, series in WORK_MEASURES.items()})
        staffing = {key: declared(sink, series) for key, series in STAFFING.items()}
        sample = sink.sample
        windows = {**self._windows, STAFFING_WINDOW: WINDOWS[STAFFING_WINDOW]}
        group = sink.group
        for agg in aggregates:
            labels = (agg["queue"], agg["channel"])
            agg_totals = agg["totals"]
            key = aggregate_key(agg)
            rules = self._policy.for_queue(agg["queue"])
            if changed is None or key in changed:  # what only events move
                group(("counts", key), complete=False)  # the same series every time
                # In a replay's snapshot, only the counts that moved since the previous one: a
                # queue a fact reached has moved a few of its thirty, and the writer takes the
                # others as unchanged.
                before = self._counted.get(key) if changed is not None else None
                if changed is not None:
                    self._counted[key] = dict(agg_totals)
                for name, family in totals.items():
                    value = agg_totals.get(name, 0)
                    if before is None or before.get(name, 0) != value:
                        sample(family, labels, value)
                for name, value in agg_totals.items():  # a priority's counts from its first reply on
                    if "@" in name and (before is None or before.get(name) != value):
                        counter, priority = name.split("@", 1)
                        sample(by_priority[counter], (*labels, priority), value)
                for spec in HISTOGRAMS:
                    if not spec.business or rules.calendar is not None:
                        row = agg["hist"].get(spec.key)
                        if changed is not None and not self._row_moved(key, spec.key, row):
                            continue  # in a replay's snapshot, a histogram no event reached stays out
                        sink.histogram(hists[spec.key], labels, *_histogram(spec, row))
                sample(backlog, labels, agg_totals.get(LEVEL_TICKETS_OPEN, 0))
                for status in TICKET_STATUSES:
                    sample(by_status, (*labels, status), agg_totals.get(status_level(status), 0))
                sample(late, labels, agg["late"])
            group(("clock", key))  # what the clock moves too
            age = self._oldest(agg, key, LEVEL_TICKETS_OPEN, now, changed)
            if age is not None:
                sample(oldest, labels, age)
            sample(oldest_new, labels, self._oldest(agg, key, status_level("new"), now, changed) or 0.0)
            sample(waiting, labels, level_count(agg, LEVEL_CALLS_WAITING, now, WAITING_HORIZON_SECONDS))
            longest = oldest_age(agg, LEVEL_CALLS_WAITING, now, WAITING_HORIZON_SECONDS)
            sample(longest_wait, labels, longest or 0.0)
            for state in AGENT_STATES:
                sample(
                    agents, (*labels, state), level_count(agg, agent_level(state), now, AGENT_HORIZON_SECONDS)
                )
            missing = level_count(agg, LEVEL_AGENTS_MISSING_OFFERS, now, AGENT_HORIZON_SECONDS)
            sample(missing_offers, labels, missing)
            if self._windows:
                all_sums = self._sums(key, buckets.get(key, ()), now, windows, self._bucket_seconds)
                staffing_sums = all_sums[STAFFING_WINDOW]
            else:  # windowed gauges trimmed: only live staffing reads the buckets, and three sums
                staffing_sums = recent_sums(
                    buckets.get(key, ()), now, WINDOWS[STAFFING_WINDOW], self._bucket_seconds, STAFFING_FIELDS
                )
            for name, value in self._staffing(agg, staffing_sums, rules, now).items():
                sample(staffing[name], labels, value)
            for window, seconds in self._windows.items():
                values = window_values(all_sums[window], seconds, rules.hourly_cost)
                wlabels = (*labels, window)
                for name, family in window_counts.items():
                    sample(family, wlabels, values[name])
                for name, family in derived.items():
                    if name in values:
                        sample(family, wlabels, values[name])
        self._sums.forget_unused()

    def _today_families(
        self, sink: Sink, aggregates: list[Aggregate], now: float, changed: Changed | None
    ) -> None:
        """Today so far per queue and channel. In a replay's snapshots, only for the aggregates a
        fact reached and those whose day the clock just ended (their counts fall to zero)."""
        families = {key: declared(sink, series) for key, series in TODAY.items()}
        started = declared(sink, TODAY_START)
        sample = sink.sample
        shown = self._today_shown
        for agg in aggregates:
            key = aggregate_key(agg)
            start = self._policy.day_start(agg["queue"], now)
            if changed is not None and key not in changed and shown.get(key) == start:
                continue
            if changed is not None:
                shown[key] = start
            sink.group(("today", key), complete=False)  # the same series every time
            labels = (agg["queue"], agg["channel"])
            counts = today_counts(agg, start)
            for name, family in families.items():
                sample(family, labels, counts.get(name, 0))
            sample(started, labels, start)

    def _oldest(
        self, agg: Aggregate, key: str, level: str, now: float, changed: Changed | None
    ) -> float | None:
        """How long the oldest entity has been in ``level``. Only facts move a level, so between a
        replay's snapshots the entry time found for an aggregate no fact reached still holds
        (a backlog of a few days holds thousands of entry times)."""
        if changed is None or key in changed or (key, level) not in self._starts:
            self._starts[(key, level)] = oldest_start(agg, level)
        start = self._starts[(key, level)]
        return None if start is None else max(0.0, now - start)

    def _row_moved(self, key: str, spec: str, row: list[float] | None) -> bool:
        """Whether a histogram's row differs from the one this collector last emitted."""
        now = None if row is None else tuple(row)
        if self._rows.get((key, spec), ()) == now:
            return False
        self._rows[(key, spec)] = now
        return True

    @staticmethod
    def _staffing(agg: Aggregate, sums: dict[str, float], rules: QueuePolicy, now: float) -> dict[str, float]:
        """Erlang C now, for a queue with calls offered in the staffing window and a known handle time."""
        offered = sums.get("calls_offered", 0)
        count, total = sums.get("call_handle_seconds:count", 0), sums.get("call_handle_seconds:sum", 0.0)
        if not count:  # no call ended in the window: the mean handle time so far
            row = agg["hist"].get("call_handle_seconds")
            count, total = (sum(row[:-1]), row[-1]) if row else (0, 0.0)
        if not offered or not count or total <= 0:
            return {}
        return live_staffing(offered, WINDOWS[STAFFING_WINDOW], total / count, _staffed(agg, now), rules)

    def _forecast_families(
        self,
        sink: Sink,
        aggregates: list[Aggregate],
        history: dict[str, list[Aggregate]],
        now: float,
        changed: Changed | None,
    ) -> None:
        """The next intervals' contacts, and for calls the agents they need and the gap to now.

        A forecast stands for a whole interval: in a replay's snapshots (``changed`` given), a
        queue whose forecast and staffed agents are those of the previous snapshot hands over
        nothing, and the writer takes its series as unchanged."""
        families = {key: declared(sink, series) for key, series in FORECAST.items()}
        if not any(sink.keeps(family) for family in families.values()):
            return  # a replay that leaves the forecast out: no need to work it out
        sample = sink.sample
        for agg in aggregates:
            key = aggregate_key(agg)
            days = history.get(key)
            if not days:
                continue
            rules = self._policy.for_queue(agg["queue"])
            staffed = _staffed(agg, now)
            moved = changed is None or key in changed
            earliest = None if changed is None else changed.get(key)
            rows = self._outlook.intervals(agg, days, rules, now, moved, earliest)
            if changed is not None:
                before = self._forecasts.get(key)
                if before is not None and before[0] is rows and before[1] == staffed:
                    sink.group(("forecast", key), complete=False)  # nothing moved
                    continue
                self._forecasts[key] = (rows, staffed)
            sink.group(("forecast", key))
            for row in rows:
                labels = (agg["queue"], agg["channel"], row.offset)
                sample(families["forecast_contacts"], labels, row.contacts)
                if row.required_agents is None:
                    continue
                sample(families["forecast_handle_seconds"], labels, row.handle_seconds)
                sample(families["forecast_required_agents"], labels, row.required_agents)
                sample(families["forecast_scheduled_agents"], labels, row.scheduled_agents)
                if staffed is not None:
                    sample(families["forecast_staffing_gap_agents"], labels, row.required_agents - staffed)

    def _queue_targets(self, sink: Sink, seen: set[str], now: float) -> None:
        """Targets, limits and opening for the queues this worker exports and those configured
        (every worker exports the configured ones: the rules take ``max by (queue)``)."""
        targets = {name: declared(sink, series) for name, series in QUEUE_TARGETS.items()}
        is_open, open_share = declared(sink, QUEUE_OPEN), declared(sink, QUEUE_OPEN_SHARE)
        open_since = declared(sink, QUEUE_OPEN_SINCE)
        sample = sink.sample
        for queue in sorted(seen | set(self._policy.queues)):
            rules = self._policy.for_queue(queue)
            sink.group(("targets", queue))
            labels = (queue,)
            for name, family in targets.items():
                sample(family, labels, getattr(rules, name))
            calendar = rules.calendar
            opened = 0.0 if calendar is None else calendar.opened_at(now)
            sample(is_open, labels, 0 if opened is None else 1)
            sample(open_since, labels, opened or 0.0)
            sample(open_share, labels, 1.0 if calendar is None else calendar.open_share())

    def _customer_families(self, sink: Sink, aggregates: list[Aggregate], now: float) -> None:
        base = self._policy.customer_base
        joined, churned = declared(sink, CUSTOMERS_JOINED), declared(sink, CUSTOMERS_CHURNED)
        active = declared(sink, CUSTOMERS_ACTIVE)
        retention, churn = declared(sink, CUSTOMER_RETENTION), declared(sink, CUSTOMER_CHURN)
        for i, agg in enumerate(aggregates):
            sink.group(("customers", i))
            sink.sample(joined, (), agg["totals"].get("customers_joined", 0))
            sink.sample(churned, (), agg["totals"].get("customers_churned", 0))
            sink.sample(active, (), active_customers(agg, base))
            for period, (crr, churn_ratio) in customer_periods(agg, now, base).items():
                sink.sample(retention, (period,), crr)
                sink.sample(churn, (period,), churn_ratio)


# What :meth:`KpiCollector._staffing` reads of the staffing window's sums.
STAFFING_FIELDS = ("calls_offered", "call_handle_seconds:count", "call_handle_seconds:sum")


def _staffed(agg: Aggregate, now: float) -> int | None:
    """Agents taking contacts in the queue now; None where no agent state was ever seen."""
    totals = agg["totals"]
    if not any(agent_level(state) in totals for state in AGENT_STATES):
        return None
    return sum(level_count(agg, agent_level(state), now, AGENT_HORIZON_SECONDS) for state in STAFFED_STATES)


def _histogram(spec: HistogramSpec, row: list[float] | None) -> tuple[list[tuple[str, float]], float]:
    if row is None:
        row = [0] * (len(spec.buckets) + 1) + [0.0]
    running = accumulate(row[:-1], initial=0.0)  # floats, as the text format wants them
    next(running)  # the initial 0.0
    return list(zip(_BOUNDS[spec.key], running, strict=True)), row[-1]


# Each histogram's ``le`` label values, by key.
_BOUNDS: dict[str, list[str]] = {h.key: [*map(_le, h.buckets), "+Inf"] for h in HISTOGRAMS}


def declared(sink: Sink[F], series: Series) -> F:
    """An empty family for a declared series in ``sink``, to be filled at scrape time."""
    return sink.family(series.name, series.help, series.kind, series.labels)
