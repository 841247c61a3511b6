"""Arrival history per queue and channel: contacts per quarter-hour for the last weeks (and the
calls handled with their handle time), what the forecast learns from.

A forecast learns from weeks of the same queue's arrivals, far longer than any KPI window, so
the counts cannot live in the event-time buckets (dropped after an hour or two) nor in the
queue's aggregate (rewritten with every fact: weeks of counts in it would make every write
large). Each UTC day of a queue gets its own small record in the aggregates table, beside the
buckets: a day's 96 quarter-hour counts, written at most once per batch of facts. A
quarter-hour is the finest interval a forecast uses, and every time zone's offset is a
multiple of it, so a 15- or 30-minute local interval is always a whole number of slots.

Like a bucket, a day record remembers the last source offset it applied from every source
partition, so a record replayed after a crash is counted once. Days older than the history
kept are deleted when a newer day opens; late facts still count in their own quarter-hour.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from functools import lru_cache
from operator import methodcaller

from metrics.definitions import ARRIVAL_COUNTERS, HISTORY_SLOT_SECONDS
from metrics.documents import Aggregate
from metrics.model import history_key

DAY = 86400


def new_history_day(key: str, day: int, partition: int) -> Aggregate:
    # "n": the day's arrivals in all, and "h" its calls handled, so a reader can tell cheaply
    # whether the history moved (records written before "h" existed lack it).
    return {
        "kind": "arrivals",
        "key": key,
        "day": day,
        "partition": partition,
        "slots": {},
        "n": 0,
        "h": 0,
        "applied": {},
    }


def arrivals(counts: dict[str, int]) -> int:
    """New contacts among a fact's counts: tickets created and calls offered."""
    return sum(counts.get(name, 0) for name in ARRIVAL_COUNTERS)


def _day_record(
    agg: Aggregate,
    key: str,
    at: float,
    source: str,
    offset: int,
    table: MutableMapping[str, Aggregate],
    touched: dict[str, Aggregate | None],
    history_days: int,
) -> Aggregate | None:
    """The day record ``at`` falls in, to add to; None when the day is older than the history
    kept, or the record already has this source record (written before a crash that lost the
    aggregate's own write).

    ``touched`` collects the records to write (None: delete) with the bucket writes, so the
    day record reaches the changelog before the aggregate that lists its day.
    """
    day = int(at // DAY) * DAY
    days: list[int] = agg.setdefault("history_days", [])
    newest = days[-1] if days else day
    if day <= newest - history_days * DAY:
        return None
    record_key = history_key(key, day)
    record = touched.get(record_key)
    if record is not None:
        return record
    record = table.get(record_key)
    if record is None:
        record = new_history_day(key, day, agg["partition"])
        days.append(day)
        days.sort()
        while days[0] <= days[-1] - history_days * DAY:
            touched[history_key(key, days.pop(0))] = None
    else:
        last = record["applied"].get(source)
        if last is not None and offset <= last:
            return None
    record["applied"][source] = offset
    touched[record_key] = record
    return record


def _slot(at: float) -> str:
    return str(int(at // HISTORY_SLOT_SECONDS) * HISTORY_SLOT_SECONDS)


def count_history(
    agg: Aggregate,
    key: str,
    at: float,
    counts: dict[str, int],
    observations: dict[str, float],
    source: str,
    offset: int,
    table: MutableMapping[str, Aggregate],
    touched: dict[str, Aggregate | None],
    history_days: int,
) -> None:
    """Add what a fact at ``at`` brings to the history of the aggregate keyed ``key``: its
    arrivals, and a call's handle time (``[calls, seconds]`` per quarter-hour: handle time
    differs by hour as arrivals do)."""
    arrived = arrivals(counts)
    handled = observations.get("call_handle_seconds")
    if not arrived and handled is None:
        return
    record = _day_record(agg, key, at, source, offset, table, touched, history_days)
    if record is None:
        return
    slot = _slot(at)
    if arrived:
        slots = record["slots"]
        slots[slot] = slots.get(slot, 0) + arrived
        record["n"] = record.get("n", 0) + arrived
    if handled is not None:
        row = record.setdefault("handle", {}).setdefault(slot, [0, 0.0])
        row[0] += 1
        row[1] += handled
        if "h" in record:
            record["h"] += 1


def arrivals_before(records: Sequence[Aggregate], moment: float) -> int:
    """Arrivals the history holds before ``moment`` (counts only grow, and old days go as a
    whole, so this changes whenever what a forecast made at ``moment`` reads changes).
    ``records`` are a queue's day records, oldest first: only the newest can reach the moment."""
    total = sum(map(_ARRIVED, records))
    for record in reversed(records):
        day = record["day"]
        if day + DAY <= moment:
            break  # this day and the ones before it are over by the moment
        slots = record["slots"]
        if day >= moment:  # a later day: every slot is at or after the moment
            total -= sum(slots.values())
        else:  # the day holding the moment: its slots from the moment on
            total -= sum(slots[slot] for slot in slots.keys() & _slots_from(moment, day + DAY))
    return total


_ARRIVED = methodcaller("get", "n", 0)


@lru_cache(maxsize=1024)
def _slots_from(moment: float, end: int) -> frozenset[str]:
    """The slot keys from the first slot starting at or after ``moment`` up to ``end``: a replay
    reads this at every snapshot, and a set's intersection with the day's keys is cheaper than
    every slot of the day parsed and compared."""
    first = int(unread_from(moment))
    return frozenset(str(start) for start in range(first, end, HISTORY_SLOT_SECONDS))


def unread_from(moment: float) -> float:
    """The start of the first slot :func:`arrivals_before` leaves out at ``moment``: an arrival
    at or after it never changes that count."""
    return math.ceil(moment / HISTORY_SLOT_SECONDS) * HISTORY_SLOT_SECONDS


def history_counts(
    records: Iterable[Aggregate], interval_start: Callable[[float], float]
) -> dict[float, float]:
    """Arrivals per forecast interval from a queue's day records; ``interval_start`` maps a
    moment to the start of its interval (the forecaster's, in the queue's time zone)."""
    out: dict[float, float] = {}
    for record in records:
        for slot, n in record["slots"].items():
            start = interval_start(float(slot))
            out[start] = out.get(start, 0.0) + n
    return out
