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

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import NamedTuple
from zoneinfo import ZoneInfo

from metrics.aggregates.history import arrivals_before, history_counts, unread_from
from metrics.aggregates.queue import aggregate_key
from metrics.business_hours import Calendar
from metrics.documents import Aggregate
from metrics.erlang_a import agents_to_schedule, estimate_patience, required_agents_a
from metrics.forecast import Forecaster
from metrics.policy import ForecastPolicy, QueuePolicy
from metrics.staffing import offered_erlangs, required_agents


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
        # Patience and targets -> the calls and handle times solved for and the agents they need.
        self._agents: dict[tuple, _Solved] = {}
        self._solves = 0
        # Aggregate key -> (the forecast and what else its plan rests on, the plan).
        self._plans: dict[str, tuple[list, tuple, list[IntervalOutlook]]] = {}
        # Aggregate key -> its forecast and what it read.
        self._forecasts: dict[str, _Made] = {}
        # Aggregate key -> its arrival and handle-time history per interval.
        self._days: dict[str, _History] = {}

    def intervals(
        self,
        agg: Aggregate,
        days: list[Aggregate],
        rules: QueuePolicy,
        now: float,
        moved: bool = True,
        earliest: float | None = None,
    ) -> list[IntervalOutlook]:
        """The current interval and the ones after it that have history to forecast from.

        ``moved=False`` says no fact reached the aggregate or its day records since the last
        call (a replay's snapshot knows): within the same interval, the plan then stands as it
        was without reading the history again. ``earliest``, the earliest event time of the
        facts that did reach it since (a replay's snapshot knows that too), spares reading the
        history when none of them came before the interval's start: the forecast reads only
        what came before it."""
        fp = self.forecast
        key = aggregate_key(agg)
        if not moved:
            kept, made = self._plans.get(key), self._forecasts.get(key)
            if kept is not None and made is not None and made.contacts is kept[0]:
                forecaster = Forecaster(rules.zone, fp.interval_seconds, fp.weeks, rules.calendar)
                if made.stands(forecaster.interval_start(now), rules.calendar):
                    return kept[2]
        # The call share, handle time and patience move a little with every call: a plan is
        # kept while they stay the same to two decimals, a second and ten seconds.
        calls = round(_call_share(agg), 2)
        overall = _mean(agg, "call_handle_seconds")
        overall = overall and round(overall)
        patience = _patience(agg)
        patience = patience and round(patience, -1)
        forecast, handles = self._contacts(agg, days, rules, now, earliest)
        # What the plan rests on: nothing but the forecast where no calls come, and the queue's
        # mean handle time only where an interval has no profile of its own.
        if not calls:
            seen: tuple = (0,)
        elif all(usual for (_, n), usual in zip(forecast, handles, strict=True) if n is not None):
            seen = (calls, None, patience)
        else:
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
        self, agg: Aggregate, days: list[Aggregate], rules: QueuePolicy, now: float, earliest: float | None
    ) -> tuple[list[tuple[float, float | None]], list[float | None]]:
        """The forecast of contacts per interval, and each interval's usual handle time. Made
        during an interval, it reads only what arrived before the interval began: it is worked
        out once per interval, and again only when a late arrival changes that history (or the
        oldest day leaves it)."""
        fp = self.forecast
        zone = rules.zone
        forecaster = Forecaster(zone, fp.interval_seconds, fp.weeks, rules.calendar)
        current = forecaster.interval_start(now)
        key = aggregate_key(agg)
        made = self._forecasts.get(key)
        read = (len(days), days[0]["day"])  # the day records it reads: none gone, none added
        stands = made is not None and made.stands(current, rules.calendar)
        if stands and earliest is not None and earliest >= unread_from(current) and made.days == read:
            return made.contacts, made.handles  # every fact since came after what it read
        arrivals = arrivals_before(days, current)
        if stands and made.arrivals == arrivals:
            self._forecasts[key] = made._replace(days=read)
            return made.contacts, made.handles
        history = self._history(key, days, forecaster)
        found = forecaster.forecast(history.arrivals, now, fp.intervals) if history.arrivals else []
        calls, seconds = history.handled(days)
        starts = [start for start, _ in found]
        handles = forecaster.means_per_item(calls, seconds, starts, history.arrivals)
        self._forecasts[key] = _Made(current, arrivals, rules.calendar, read, found, handles)
        return found, handles

    def _history(self, key: str, days: list[Aggregate], forecaster: Forecaster) -> _History:
        """The queue's history, brought up to date with its day records: only the days whose
        counts moved since the last forecast (today's, and a past day a late fact reached) are
        mapped to intervals again."""
        history = self._days.get(key)
        intervals = (forecaster.zone, forecaster.interval_seconds)
        if history is None or history.intervals != intervals:
            history = self._days[key] = _History(intervals, forecaster.interval_start)
        history.update(days)
        return history

    def _staff(
        self, calls: float, handle: float, patience: float | None, rules: QueuePolicy
    ) -> tuple[int, int]:
        """Agents on the phones for ``calls`` in an interval, and on the rota after shrinkage.

        A solve costs milliseconds, and the forecast of every interval ahead moves a little at
        each interval's end. More calls, or longer ones, never need fewer agents: what was solved
        for the same patience and targets bounds the answer from below (fewer or as many calls,
        no longer) and from above (more or as many, no shorter); where the bounds meet, that is
        the answer, and otherwise only the agents between them are tried."""
        # Solved for the calls to a tenth and the handle time to a second: the answer depends on
        # nothing else, however the forecast got there (a live worker and a replay agree).
        calls, handle = round(calls, 1), round(handle)
        targets = (rules.service_level_target, rules.service_level_seconds, rules.max_occupancy)
        group = (patience, *targets)
        solved = self._agents.setdefault(group, _Solved())
        low, high = solved.bounds(calls, handle)
        needed = low
        if high is None or low != high:
            needed = self._solve(calls, handle, patience, rules, low, high)
            if self._solves >= 100_000:  # a bound on what is kept, far above a day's needs
                self._agents.clear()
                self._solves = 0
                solved = self._agents[group] = _Solved()
            solved.add(calls, handle, needed)
            self._solves += 1
        return needed, agents_to_schedule(needed, rules.shrinkage)

    def _solve(
        self,
        calls: float,
        handle: int,
        patience: float | None,
        rules: QueuePolicy,
        low: int,
        high: int | None,
    ) -> int:
        if calls <= 0:
            return 0
        seconds = self.forecast.interval_seconds
        if patience is None:  # nobody hung up yet: Erlang C, callers wait as long as it takes
            return required_agents(
                offered_erlangs(calls, seconds, handle),
                handle,
                rules.service_level_target,
                rules.service_level_seconds,
                rules.max_occupancy,
            ).agents
        return required_agents_a(
            calls / seconds,
            handle,
            patience,
            rules.service_level_target,
            rules.service_level_seconds,
            rules.max_occupancy,
            at_least=low,
            at_most=high,
        ).agents


class _Made(NamedTuple):
    """A queue's forecast, and what it read: it stands while the interval and calendar are the
    same and the arrivals before the interval too."""

    interval: float  # the start of the interval it was made in
    arrivals: int  # the history's arrivals before that interval
    calendar: Calendar | None
    days: tuple[int, int]  # the day records' count and first day
    contacts: list[tuple[float, float | None]]
    handles: list[float | None]

    def stands(self, interval: float, calendar: Calendar | None) -> bool:
        """Made in ``interval`` with ``calendar``."""
        return self.interval == interval and self.calendar == calendar


class _Solved:
    """Agents needed by the calls and handle times solved for one patience and set of targets."""

    def __init__(self) -> None:
        # Handle time -> (the calls solved for, in order; the agents each needed).
        self._by_handle: dict[int, tuple[list[float], list[int]]] = {}

    def bounds(self, calls: float, handle: int) -> tuple[int, int | None]:
        """The fewest and most agents ``calls`` of ``handle`` seconds can need, by what was
        solved (most: None where nothing solved bounds it)."""
        low, high = 0, None
        for seconds, (solved, needed) in self._by_handle.items():
            if seconds <= handle:
                i = bisect_right(solved, calls)
                if i:
                    low = max(low, needed[i - 1])
            if seconds >= handle:
                i = bisect_left(solved, calls)
                if i < len(solved) and (high is None or needed[i] < high):
                    high = needed[i]
        return low, high

    def add(self, calls: float, handle: int, needed: int) -> None:
        solved, agents = self._by_handle.setdefault(handle, ([], []))
        i = bisect_left(solved, calls)
        solved.insert(i, calls)
        agents.insert(i, needed)


class _DayMap(NamedTuple):
    """One day record mapped to forecast intervals, with the counts it was mapped at."""

    arrived: int  # the record's "n"
    handled: int | None  # its "h" (None: a record from before "h" was kept: never reused)
    arrivals: dict[float, float]  # interval start -> arrivals
    handles: list[tuple[float, int, float]]  # (interval start, calls, seconds) per slot, in order


class _History:
    """Arrivals per interval over a queue's day records, kept merged between forecasts: a day's
    counts only grow, so a day whose arrival and handled totals are the same as last time maps to
    the same intervals. Arrivals are whole numbers, so taking a day's old counts out of the merged
    sum and its new ones in gives exactly the sum made afresh."""

    def __init__(self, intervals: tuple[ZoneInfo, int], interval_start: Callable[[float], float]) -> None:
        self.intervals = intervals  # the time zone and interval length the days are mapped to
        self.interval_start = interval_start
        self.arrivals: dict[float, float] = {}
        self._days: dict[float, _DayMap] = {}

    def update(self, records: list[Aggregate]) -> None:
        held = set()
        for record in records:
            day = record["day"]
            held.add(day)
            found = self._days.get(day)
            n, h = record.get("n", 0), record.get("h")
            if found is not None and found.arrived == n and found.handled == h and h is not None:
                continue
            if found is not None:
                self._merge(found.arrivals, -1)
            found = self._days[day] = _DayMap(
                n, h, history_counts((record,), self.interval_start), self._handles(record)
            )
            self._merge(found.arrivals, 1)
        for day in [d for d in self._days if d not in held]:
            self._merge(self._days.pop(day).arrivals, -1)  # gone from the history

    def handled(self, records: list[Aggregate]) -> tuple[dict[float, float], dict[float, float]]:
        """Calls handled and their seconds per interval, summed day by day in the records' order
        (the seconds are fractions: their sum depends on the order, and a live worker and a
        replay must agree to the last digit)."""
        calls: dict[float, float] = {}
        seconds: dict[float, float] = {}
        for record in records:
            for start, n, total in self._days[record["day"]].handles:
                calls[start] = calls.get(start, 0.0) + n
                seconds[start] = seconds.get(start, 0.0) + total
        return calls, seconds

    def _handles(self, record: Aggregate) -> list[tuple[float, int, float]]:
        start = self.interval_start
        return [(start(float(slot)), n, total) for slot, (n, total) in record.get("handle", {}).items()]

    def _merge(self, counts: dict[float, float], sign: int) -> None:
        merged = self.arrivals
        for start, n in counts.items():
            left = merged.get(start, 0.0) + sign * n
            if left:
                merged[start] = left
            else:
                del merged[start]  # as a sum made afresh: no interval without arrivals


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
