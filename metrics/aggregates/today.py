"""Today so far per queue and channel: the counts a wallboard shows all day, from the start of
the queue's local day.

The counts live in the queue's aggregate itself (a dozen numbers under ``"today"``), which is
written with every fact anyway: no table write is added, and a restarted or rebalanced worker
reads them back from the changelog with the rest of the aggregate, applied exactly once by the
same source offsets.

A fact counts in the day its event happened in, in the queue's zone. The first fact of a later
day starts that day from zero; a fact of a day already over when it arrives (a worker catching
up after midnight) is in the totals but in no day's counts, since nobody reads yesterday's
"today". A reader asking after the day ended, before any fact of the new one, reads zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from metrics.definitions import TODAY_COUNTERS, TODAY_SUMS
from metrics.documents import Aggregate

_COUNTED = frozenset(TODAY_COUNTERS)
_SUMMED = frozenset(TODAY_SUMS)


def count_today(
    agg: Aggregate,
    at: float,
    counts: Mapping[str, int],
    observations: Mapping[str, float],
    day_start: Callable[[float], float],
) -> None:
    """Add a fact at ``at`` to its day's counts; ``day_start`` maps a moment to the start of the
    queue's day holding it."""
    if _COUNTED.isdisjoint(counts) and _SUMMED.isdisjoint(observations):
        return
    start = day_start(at)
    today = agg.get("today")
    if today is None or start > today["start"]:
        today = agg["today"] = {"start": start, "counts": {}}
    elif start < today["start"]:
        return  # a day already over
    kept = today["counts"]
    for name, n in counts.items():
        if name in _COUNTED:
            kept[name] = kept.get(name, 0) + n
    for name, value in observations.items():
        if name in _SUMMED:
            kept[name] = kept.get(name, 0.0) + value


def today_counts(agg: Aggregate, start: float) -> Mapping[str, float]:
    """The counts of the day that began at ``start`` (empty: none of its facts came yet)."""
    today = agg.get("today")
    return today["counts"] if today is not None and today["start"] == start else {}
