"""The next intervals of one queue and channel: contacts forecast, and for calls the agents they need.

What a workforce planner reads at 09:40 about 10:00–12:00. The forecast comes from the queue's
arrival history (:mod:`metrics.aggregates.history`, :mod:`metrics.forecast`); agents from Erlang A
with the queue's own patience (every second callers waited, answered or not, over the callers
who hung up) and, until a caller has hung up, from Erlang C. Forecasting and solving Erlang A for
each interval at every scrape would cost more than the rest of the scrape (a replay snapshots
every minute): forecasts are kept until the interval ends or a late arrival changes their
history, and staffing by what it depends on (the calls, handle time and patience, rounded).
"""

from __future__ import annotations

from typing import NamedTuple
from zoneinfo import ZoneInfo

from metrics.aggregates.history import arrivals_before, handle_history, history_counts
from metrics.aggregates.queue import aggregate_key
from metrics.documents import Aggregate
from metrics.erlang_a import agents_to_schedule, estimate_patience, required_agents_a
from metrics.forecast import Forecaster
from metrics.policy import ForecastPolicy, QueuePolicy
from metrics.staffing import offered_erlangs, required_agents

UTC = ZoneInfo("UTC")


class IntervalOutlook(NamedTuple):
    """One forecast interval of a queue and channel."""

    offset: str  # "+0m", "+30m", ...: from the current interval's start
    start: float
    contacts: float
    handle_seconds: float | None = None  # calls only: this interval's usual handle time
    required_agents: int | None = None  # calls only, with a known handle time
    scheduled_agents: int | None = None


class Outlook:
    """Forecasts and staffing plans of a collector's queues, with Erlang solves cached."""

    def __init__(self, forecast: ForecastPolicy) -> None:
        self.forecast = forecast
        self._agents: dict[tuple, tuple[int, int]] = {}
        # Aggregate key -> (the forecast and what else its plan rests on, the plan).
        self._plans: dict[str, tuple[list, tuple, list[IntervalOutlook]]] = {}
        # Aggregate key -> (what its forecast read, the forecast).
        self._forecasts: dict[str, tuple[tuple, tuple[list, list]]] = {}
        # Aggregate key -> day -> (its arrivals, its arrivals per interval).
        self._days: dict[str, dict[float, tuple[int, dict[float, float]]]] = {}

    def intervals(
        self, agg: Aggregate, days: list[Aggregate], rules: QueuePolicy, now: float
    ) -> list[IntervalOutlook]:
        """The current interval and the ones after it that have history to forecast from."""
        fp = self.forecast
        # The call share, handle time and patience move a little with every call: a plan is
        # kept while they stay the same to two decimals, a second and ten seconds.
        calls = round(_call_share(agg), 2)
        overall = _mean(agg, "call_handle_seconds")
        overall = overall and round(overall)
        patience = _patience(agg)
        patience = patience and round(patience, -1)
        forecast, handles = self._contacts(agg, days, rules, now)
        key = aggregate_key(agg)
        seen = (calls, overall, patience)
        kept = self._plans.get(key)
        if kept is not None and kept[0] is forecast and kept[1] == seen:
            return kept[2]
        minutes = fp.interval_seconds // 60
        out = []
        for i, ((start, contacts), usual) in enumerate(zip(forecast, handles, strict=True)):
            if contacts is None:
                continue
            handle = usual or overall  # the interval's own profile, else the queue's mean so far
            needed = scheduled = None
            if calls and handle:
                needed, scheduled = self._staff(contacts * calls, handle, patience, rules)
            else:
                handle = None
            out.append(IntervalOutlook(f"+{i * minutes}m", start, contacts, handle, needed, scheduled))
        self._plans[key] = (forecast, seen, out)
        return out

    def _contacts(
        self, agg: Aggregate, days: list[Aggregate], rules: QueuePolicy, now: float
    ) -> tuple[list[tuple[float, float | None]], list[float | None]]:
        """The forecast of contacts per interval, and each interval's usual handle time. Made
        during an interval, it reads only what arrived before the interval began: it is worked
        out once per interval, and again only when a late arrival changes that history."""
        fp = self.forecast
        zone = rules.calendar.zone if rules.calendar is not None else UTC
        forecaster = Forecaster(zone, fp.interval_seconds, fp.weeks, rules.calendar)
        current = forecaster.interval_start(now)
        seen = (current, arrivals_before(days, current), rules.calendar)
        key = aggregate_key(agg)
        cached = self._forecasts.get(key)
        if cached is not None and cached[0] == seen:
            return cached[1]
        history = self._history(key, days, forecaster)
        found = forecaster.forecast(history, now, fp.intervals) if history else []
        calls, seconds = handle_history(days, forecaster.interval_start)
        handles = forecaster.means_per_item(calls, seconds, [start for start, _ in found], history)
        self._forecasts[key] = (seen, (found, handles))
        return found, handles

    def _history(self, key: str, days: list[Aggregate], forecaster: Forecaster) -> dict[float, float]:
        """Arrivals per interval over the queue's day records. A day's counts only grow, so a day
        whose arrival total is the same as last time maps to the same intervals: only today's,
        and a past day a late arrival reached, are mapped again."""
        out: dict[float, float] = {}
        kept = self._days.setdefault(key, {})
        for record in days:
            day, n = record["day"], record.get("n", 0)
            found = kept.get(day)
            if found is None or found[0] != n:
                found = kept[day] = (n, history_counts((record,), forecaster.interval_start))
            for start, count in found[1].items():
                out[start] = out.get(start, 0.0) + count
        held = {record["day"] for record in days}
        for day in [d for d in kept if d not in held]:
            del kept[day]  # gone from the history
        return out

    def _staff(
        self, calls: float, handle: float, patience: float | None, rules: QueuePolicy
    ) -> tuple[int, int]:
        """Agents on the phones for ``calls`` in an interval, and on the rota after shrinkage."""
        seconds = self.forecast.interval_seconds
        targets = (rules.service_level_target, rules.service_level_seconds, rules.max_occupancy)
        key = (round(calls, 1), round(handle), patience, *targets, rules.shrinkage)
        found = self._agents.get(key)
        if found is None:
            if calls <= 0:
                needed = 0
            elif patience is None:  # nobody hung up yet: Erlang C, callers wait as long as it takes
                needed = required_agents(
                    offered_erlangs(calls, seconds, handle),
                    handle,
                    rules.service_level_target,
                    rules.service_level_seconds,
                    rules.max_occupancy,
                ).agents
            else:
                needed = required_agents_a(
                    calls / seconds,
                    handle,
                    patience,
                    rules.service_level_target,
                    rules.service_level_seconds,
                    rules.max_occupancy,
                ).agents
            if len(self._agents) > 10_000:
                self._agents.clear()
            found = self._agents[key] = (needed, agents_to_schedule(needed, rules.shrinkage))
        return found


def _call_share(agg: Aggregate) -> float:
    """Share of the aggregate's arrivals that are calls (its channel may carry tickets too)."""
    totals = agg["totals"]
    calls, tickets = totals.get("calls_offered", 0), totals.get("tickets_created", 0)
    return calls / (calls + tickets) if calls else 0.0


def _mean(agg: Aggregate, histogram: str) -> float | None:
    row = agg["hist"].get(histogram)
    count = sum(row[:-1]) if row else 0
    return row[-1] / count if count and row[-1] > 0 else None


def _patience(agg: Aggregate) -> float | None:
    """Mean patience from every second callers waited over the callers who hung up."""
    hist = agg["hist"]
    rows = [hist.get("call_wait_seconds"), hist.get("call_abandon_wait_seconds")]
    waited = sum(row[-1] for row in rows if row)
    return estimate_patience(agg["totals"].get("calls_abandoned", 0), waited)
