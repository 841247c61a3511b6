"""Arrivals forecast per interval: the same interval of recent weeks, corrected by how today runs.

A contact centre's arrivals repeat week by week: each weekday has its own curve, nights and
Sundays are quiet or closed, and a holiday is unlike any normal day. So the forecast for an
interval (say Tuesday 10:00–10:30, local time) is the mean of the same local interval in the
last ``weeks`` weeks, leaving out weeks where that day was a holiday; a holiday itself is
forecast from recent days the queue was closed all day (Sundays, earlier holidays). Customers
write when the floor is closed too, so nights are forecast from their history, not as zero.
Intervals are counted in the queue's own time zone, so a change of summer time moves no
interval to another hour.

Within the day, WFM tools re-forecast from how the day runs so far: the rest of today is scaled
by today's actual arrivals over their forecast, shrunk towards 1 by how much the day has shown
(credibility F ÷ (F + 120) for F contacts forecast so far), bounded, and only once enough
contacts were forecast for the ratio to mean something. Accuracy is measured as WAPE, Σ|actual − forecast| ÷
Σ actual, which, unlike MAPE, empty night intervals do not break.

Pure arithmetic over counts keyed by interval start, so the worker, the replay and the tests
forecast alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from metrics.business_hours import Calendar

Counts = Mapping[float, float]  # interval start (Unix seconds) -> contacts that arrived in it


@dataclass(frozen=True)
class Forecaster:
    """How a queue's arrivals are forecast: interval length, weeks of history, correction bounds."""

    zone: ZoneInfo
    interval_seconds: int = 1800
    weeks: int = 4
    calendar: Calendar | None = None
    correction_bounds: tuple[float, float] = (0.5, 2.0)
    correction_minimum: float = 20.0  # contacts forecast so far today before the ratio is used
    # How many contacts forecast so far today the day's own ratio must rest on to count half:
    # the ratio is shrunk towards 1 by F ÷ (F + this), so a morning's chance swings move the
    # afternoon little, and a real surge (hundreds of contacts) almost fully.
    correction_credibility: float = 120.0

    def interval_start(self, at: float) -> float:
        """Start of the local interval holding ``at`` (intervals are aligned to local midnight)."""
        return _interval_start(self.zone, self.interval_seconds, at)

    def next_start(self, start: float) -> float:
        """The interval after the one starting at ``start`` (on the night summer time ends, the
        repeated local hour's intervals come one after the other, not twice the same)."""
        following = self.interval_start(start + self.interval_seconds + 1)
        return following if following > start else start + self.interval_seconds

    def same_interval_weeks_ago(self, start: float, weeks: int) -> float:
        """The start of the same local interval ``weeks`` weeks earlier (by the local clock)."""
        return _weeks_ago(self.zone, start, weeks)

    def _holiday(self, start: float) -> bool:
        if self.calendar is None:
            return False
        return _local_date(self.zone, start) in self.calendar.holidays

    def _closed_all_day(self, start: float) -> bool:
        """A day the queue does not open at all (a holiday, a Sunday without hours)."""
        if self.calendar is None:
            return False
        local = datetime.fromtimestamp(start, self.zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return (
            self.calendar.business_seconds(midnight.timestamp(), (midnight + timedelta(days=1)).timestamp())
            <= 0
        )

    def _alike(self, start: float, first: float, last: float) -> list[float]:
        """The same local interval on the days most like this one that the history covers
        (``first`` to ``last``): the same weekday of recent weeks that were no holiday; for a
        holiday, recent days the queue was closed all day."""
        if not self._holiday(start):
            return [
                then
                for then in (self.same_interval_weeks_ago(start, k) for k in range(1, self.weeks + 1))
                if first <= then <= last and not self._holiday(then)
            ]
        local = datetime.fromtimestamp(start, self.zone).replace(tzinfo=None)
        found: list[float] = []
        for back in range(1, 7 * self.weeks + 1):
            then = (local - timedelta(days=back)).replace(tzinfo=self.zone).timestamp()
            if first <= then <= last and self._closed_all_day(then):
                found.append(then)
                if len(found) == self.weeks:
                    break
        return found

    def baseline(self, history: Counts, start: float) -> float | None:
        """The mean of the same interval on the days most like this one (None: no history).

        Customers write when the floor is closed too: a night or a Sunday is forecast from
        history like any interval, not as zero; a holiday from the recent days closed all day."""
        return self._baseline(history, start, _span(history))

    def _baseline(self, history: Counts, start: float, span: tuple[float, float] | None) -> float | None:
        """:meth:`baseline` with the history's first and last interval found once by the caller."""
        if span is None:
            return None
        seen = [history.get(then, 0.0) for then in self._alike(start, *span)]
        return sum(seen) / len(seen) if seen else None

    def means_per_item(
        self, items: Counts, totals: Counts, starts: Sequence[float], span: Counts
    ) -> list[float | None]:
        """For each of ``starts``, Σ totals ÷ Σ items over the intervals alike to it within
        ``span``'s history (say, handle seconds over calls handled): a per-interval profile of a
        mean, learnt like the arrivals; None when none of those intervals has an item."""
        bounds = _span(span)
        out: list[float | None] = []
        for start in starts:
            alike = self._alike(start, *bounds) if bounds is not None else []
            n = sum(items.get(then, 0.0) for then in alike)
            out.append(sum(totals.get(then, 0.0) for then in alike) / n if n else None)
        return out

    def correction(self, history: Counts, now: float) -> float:
        """Today's actual arrivals so far over their forecast, bounded; 1 until enough were forecast."""
        today = self.interval_start(now)
        local = datetime.fromtimestamp(today, self.zone)
        midnight = local.replace(hour=0, minute=0, second=0).timestamp()
        actual = forecast = 0.0
        span = _span(history)
        start = self.interval_start(midnight)
        while start < today:  # the intervals of today that are over
            expected = self._baseline(history, start, span)
            if expected is not None:
                forecast += expected
                actual += history.get(start, 0.0)
            start = self.next_start(start)
        if forecast < self.correction_minimum:
            return 1.0
        low, high = self.correction_bounds
        weight = forecast / (forecast + self.correction_credibility)
        return min(high, max(low, 1.0 + weight * (actual / forecast - 1.0)))

    def forecast(self, history: Counts, now: float, intervals: int) -> list[tuple[float, float | None]]:
        """``(start, contacts)`` for the interval holding ``now`` and the ``intervals − 1`` after it,
        today's correction applied to today's intervals (None: no history for that interval)."""
        ratio = self.correction(history, now)
        day = datetime.fromtimestamp(now, self.zone).date()
        span = _span(history)
        out: list[tuple[float, float | None]] = []
        start = self.interval_start(now)
        for _ in range(intervals):
            expected = self._baseline(history, start, span)
            if expected is not None and datetime.fromtimestamp(start, self.zone).date() == day:
                expected *= ratio
            out.append((start, expected))
            start = self.next_start(start)
        return out


# The forecast of every queue is worked out again each interval and whenever a late arrival
# changes its history, over the same few thousand interval starts: the local-time arithmetic
# for each start is done once. Pure functions of their arguments; a bounded cache.
@lru_cache(maxsize=1 << 17)
def _interval_start(zone: ZoneInfo, interval_seconds: int, at: float) -> float:
    local = datetime.fromtimestamp(at, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    into = (local - midnight).total_seconds()
    return (midnight + timedelta(seconds=into - into % interval_seconds)).timestamp()


@lru_cache(maxsize=1 << 17)
def _weeks_ago(zone: ZoneInfo, start: float, weeks: int) -> float:
    local = datetime.fromtimestamp(start, zone)
    return (local.replace(tzinfo=None) - timedelta(weeks=weeks)).replace(tzinfo=zone).timestamp()


@lru_cache(maxsize=1 << 16)
def _local_date(zone: ZoneInfo, at: float) -> date:
    return datetime.fromtimestamp(at, zone).date()


def _span(history: Counts) -> tuple[float, float] | None:
    """The first and last interval the history holds (None: it is empty)."""
    return (min(history), max(history)) if history else None


def seasonal_naive(forecaster: Forecaster, history: Counts, start: float) -> float:
    """The baseline every forecast must beat: the same interval a week earlier."""
    return history.get(forecaster.same_interval_weeks_ago(start, 1), 0.0)


def wape(actual: Sequence[float], forecast: Sequence[float]) -> float:
    """Σ|actual − forecast| ÷ Σ actual (0 when nothing arrived and nothing was forecast)."""
    total = sum(actual)
    error = sum(abs(a - f) for a, f in zip(actual, forecast, strict=True))
    if total <= 0:
        return 0.0 if error == 0 else float("inf")
    return error / total
