"""The classic interval report: one row per queue per 15 or 30 minutes of local time.

A report is worked out from each queue's running totals at the interval boundaries (its counters
summed over channels, and the backlog gauge), wherever those come from: a Prometheus server's
API or a replay of a history file. An interval (start, end] holds what the totals gained between
its two boundaries — the counters move when the worker counts an event, so a replay, whose clock is
the events' own time, and a Prometheus scraping a live worker agree up to the scrape interval.
Boundaries are quarter-hours: every time zone's offset is a whole number of them, so a local
15- or 30-minute interval always starts on one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from metrics.business_hours import QUARTER_HOUR
from metrics.definitions import TODAY_COUNTERS

# The running totals a report reads, by the name of the series they come from (summed by queue):
# the counters of the day's figures a wallboard shows (today so far), interval by interval.
COUNTERS = TODAY_COUNTERS
SUMS = ("call_wait_seconds", "call_handle_seconds", "first_response_seconds")  # histograms: _sum, _count
LEVELS = ("tickets_open",)
TOTALS = (*COUNTERS, *(f"{h}_sum" for h in SUMS), *(f"{h}_count" for h in SUMS), *LEVELS)

Totals = Mapping[str, Mapping[str, float]]  # queue -> total name -> value at one boundary


class Row(NamedTuple):
    """One queue's interval."""

    queue: str
    start: datetime  # local
    end: datetime
    offered: int
    answered: int
    abandoned: int
    service_level: float | None  # within the threshold ÷ (offered − short abandons)
    asa_seconds: float | None  # mean wait of the calls answered in the interval
    aht_seconds: float | None  # mean handle time of the calls that ended in it
    tickets_created: int
    first_responses: int
    first_response_seconds: float | None  # mean, of the first replies sent in it
    first_response_breaches: int
    tickets_resolved: int
    backlog: int  # open tickets at the interval's end

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M}"


def boundaries(first: date, last: date, zone: ZoneInfo) -> list[float]:
    """The quarter-hours from the local midnight starting ``first`` to the one ending ``last``."""
    start = datetime.combine(first, datetime.min.time(), zone).timestamp()
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone).timestamp()
    return [float(t) for t in range(int(start), int(end) + 1, QUARTER_HOUR)]


def rows(
    moments: Sequence[float], totals: Sequence[Totals], interval_minutes: int, zone: ZoneInfo
) -> list[Row]:
    """The report's rows, queue by queue and in time order, from the totals at ``moments``
    (quarter-hours, as :func:`boundaries` gives them). A queue appears once it has any total."""
    step = interval_minutes * 60 // QUARTER_HOUR
    queues = sorted({queue for at in totals for queue in at})
    out = []
    for queue in queues:
        for i in range(0, len(moments) - step, step):
            before, after = totals[i].get(queue, {}), totals[i + step].get(queue, {})
            out.append(_row(queue, moments[i], moments[i + step], before, after, zone))
    return out


def _row(
    queue: str,
    start: float,
    end: float,
    before: Mapping[str, float],
    after: Mapping[str, float],
    zone: ZoneInfo,
) -> Row:
    def gained(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    def mean(histogram: str) -> float | None:
        n = gained(f"{histogram}_count")
        return gained(f"{histogram}_sum") / n if n > 0 else None

    counted = gained("calls_offered") - gained("calls_short_abandoned")
    return Row(
        queue=queue,
        start=datetime.fromtimestamp(start, zone),
        end=datetime.fromtimestamp(end, zone),
        offered=round(gained("calls_offered")),
        answered=round(gained("calls_answered")),
        abandoned=round(gained("calls_abandoned")),
        service_level=gained("calls_answered_within_sla") / counted if counted > 0 else None,
        asa_seconds=mean("call_wait_seconds"),
        aht_seconds=mean("call_handle_seconds"),
        tickets_created=round(gained("tickets_created")),
        first_responses=round(gained("ticket_first_responses")),
        first_response_seconds=mean("first_response_seconds"),
        first_response_breaches=round(gained("first_response_sla_breaches")),
        tickets_resolved=round(gained("tickets_resolved")),
        backlog=round(after.get("tickets_open", 0.0)),
    )
