"""Business time: the seconds between two moments during which a queue is open.

A queue's calendar names its time zone, its opening hours per weekday and its holidays. First
response and resolution times in business seconds count only the open part of the interval,
so a ticket opened on Friday at 17:55 and answered on Monday at 09:05, in a queue open 09:00 to
18:00 on weekdays, waited 600 business seconds (five minutes each side of the weekend). Opening
hours are local times: each day's intervals are placed in the zone, so a day that changes to or
from summer time has its true length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from metrics.documents import JsonView

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UTC = ZoneInfo("UTC")
QUARTER_HOUR = 900


def day_start(zone: ZoneInfo, reset_seconds: int, at: float) -> float:
    """When the local day holding ``at`` began, a day starting ``reset_seconds`` after local
    midnight (0: at midnight; 21600: at 06:00): what "today so far" counts from.

    Every time zone's offset is a whole number of quarter-hours, and so is a reset time, so two
    moments of the same quarter-hour share their day: the answer is kept per quarter-hour, and
    a fact costs a cache lookup rather than a time-zone conversion."""
    return _day_start(zone, reset_seconds, int(at // QUARTER_HOUR))


@lru_cache(maxsize=4096)
def _day_start(zone: ZoneInfo, reset_seconds: int, quarter: int) -> float:
    at = quarter * QUARTER_HOUR
    midnight = datetime.fromtimestamp(at, zone).replace(hour=0, minute=0, second=0, tzinfo=None)
    reset = midnight + timedelta(seconds=reset_seconds)
    start = reset.replace(tzinfo=zone).timestamp()
    if start > at:  # before today's reset time: the day began at yesterday's
        start = (reset - timedelta(days=1)).replace(tzinfo=zone).timestamp()
    return start


@dataclass(frozen=True)
class Calendar:
    zone: ZoneInfo
    hours: Mapping[int, tuple[tuple[time, time], ...]]  # weekday (Monday 0) -> opening intervals
    holidays: frozenset[date] = field(default_factory=frozenset)

    @staticmethod
    def parse(doc: JsonView) -> Calendar:
        """From settings: ``{"zone": "Europe/Paris", "hours": {"mon": "09:00-18:00", "sat": "10:00-12:00,
        14:00-16:00"}, "holidays": ["2026-12-25"]}``; a weekday not named is closed."""
        zone = ZoneInfo(str(doc.get("zone", "UTC")))
        hours: dict[int, tuple[tuple[time, time], ...]] = {}
        for name, spec in (doc.get("hours") or {}).items():
            day = WEEKDAYS.index(str(name).lower()[:3])
            intervals = []
            for part in str(spec).split(","):
                opens, closes = (time.fromisoformat(t.strip()) for t in part.split("-"))
                if closes <= opens:
                    raise ValueError(f"{name}: {part.strip()} closes before it opens")
                intervals.append((opens, closes))
            hours[day] = tuple(sorted(intervals))
        holidays = frozenset(date.fromisoformat(str(d)) for d in doc.get("holidays") or ())
        return Calendar(zone, hours, holidays)

    def _open_intervals(self, day: date) -> list[tuple[float, float]]:
        if day in self.holidays:
            return []
        return [
            (
                datetime.combine(day, opens, self.zone).timestamp(),
                datetime.combine(day, closes, self.zone).timestamp(),
            )
            for opens, closes in self.hours.get(day.weekday(), ())
        ]

    def business_seconds(self, start: float, end: float) -> float:
        """Open seconds in ``[start, end]`` (Unix seconds); 0 when ``end`` is not after ``start``."""
        if end <= start:
            return 0.0
        day = datetime.fromtimestamp(start, self.zone).date()
        last = datetime.fromtimestamp(end, self.zone).date()
        total = 0.0
        while day <= last:
            for opens, closes in self._open_intervals(day):
                total += max(0.0, min(end, closes) - max(start, opens))
            day += timedelta(days=1)
        return total

    def is_open(self, at: float) -> bool:
        return self.closes_at(at) is not None

    def open_share(self) -> float:
        """The share of a week the queue is open by its weekly hours (holidays aside): a budget
        counted over a week is spent in these hours, so short windows burn it faster."""
        minutes = sum(
            (closes.hour * 60 + closes.minute) - (opens.hour * 60 + opens.minute)
            for intervals in self.hours.values()
            for opens, closes in intervals
        )
        return minutes / (7 * 24 * 60)

    def opened_at(self, at: float) -> float | None:
        """When the opening interval holding ``at`` began, or None while the queue is closed."""
        day = datetime.fromtimestamp(at, self.zone).date()
        return next((opens for opens, closes in self._open_intervals(day) if opens <= at < closes), None)

    def closes_at(self, at: float) -> float | None:
        """When the opening interval holding ``at`` ends, or None while the queue is closed."""
        day = datetime.fromtimestamp(at, self.zone).date()
        return next((closes for opens, closes in self._open_intervals(day) if opens <= at < closes), None)

    def next_opening(self, at: float, horizon_days: int = 366) -> float | None:
        """The first opening at or after ``at`` (``at`` itself while open), or None if the calendar
        opens on no day within ``horizon_days`` (no hours at all, or only holidays)."""
        day = datetime.fromtimestamp(at, self.zone).date()
        for _ in range(horizon_days + 1):
            for opens, closes in self._open_intervals(day):
                if at < closes:
                    return max(opens, at)
            day += timedelta(days=1)
        return None
