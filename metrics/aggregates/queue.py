"""Per-(queue, channel) aggregation of KPI facts: monotonic totals plus event-time buckets.

A queue's aggregate (totals, histograms, backlog, watermark) is one plain dict, and each
of its event-time buckets is another, under the key ``queue|channel|start``: both live in
one Faust table, so a fact costs two small writes instead of rewriting an hour of buckets.
Each value remembers the last source offset it applied from every source partition, so a
record replayed after a crash changes neither twice. The bucket is written before the
aggregate, in the same changelog partition: if the aggregate's write survived a crash,
the bucket's did too.

Windows: facts land in tumbling buckets of ``bucket_seconds`` by event time. Lateness is
judged per source partition (the fact's ``clock``: the partition its time came from, when
that is not the record that carried it), because partitions are consumed unevenly (a worker catching
up reads one partition's backlog before another's) while each partition carries its events
in roughly the order they happened: a fact is *late* when the source partition it came
from has already delivered a fact more than ``grace_seconds`` past the end of the fact's
bucket. A late fact still counts in the totals and histograms, but in no window. Buckets
older than the longest window plus the grace behind the queue's newest fact are dropped,
and a fact for a dropped bucket is late too.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from metrics.aggregates.customers import count_period
from metrics.aggregates.history import count_history
from metrics.aggregates.today import count_today
from metrics.definitions import HISTOGRAM_BY_KEY, LEVEL_RESOLUTION, LONGEST_WINDOW
from metrics.documents import Aggregate
from metrics.model import bucket_key as _bucket_key
from metrics.model import queue_key


def new_aggregate(queue: str, channel: str, partition: int) -> Aggregate:
    return {
        "queue": queue,
        "channel": channel,
        "partition": partition,  # partition of the fact stream; decides which worker exports it
        "totals": {},  # counter key -> count; "tickets_open" is a level (backlog), not monotonic
        "hist": {},  # histogram key -> [per-bucket counts..., +Inf count, sum]
        "bucket_starts": [],  # starts of this aggregate's live buckets, oldest first
        "levels": {},  # level name -> {str(since, rounded): entities in that level since then}
        "watermark": None,  # newest event time of any fact
        "watermarks": {},  # source "topic:partition" -> newest event time of its facts
        "applied": {},  # source "topic:partition" -> last applied offset
        "late": 0,
    }


def new_customer_base(partition: int) -> Aggregate:
    """The aggregate of customer lifecycle facts (not per queue): totals plus days and months."""
    agg = new_aggregate("", "", partition)
    agg["kind"] = "customers"
    agg["days"] = {}  # "YYYY-MM-DD" -> {"customers_joined": n, "customers_churned": n}
    agg["months"] = {}  # "YYYY-MM" -> same
    agg["before_days"] = 0  # net joins of days no longer kept
    return agg


def written_before_aggregate(value: Aggregate) -> bool:
    """A bucket or a day of arrival history: goes to the changelog before the aggregate listing it,
    so an aggregate that survived a crash never lists a record that did not."""
    return "start" in value or value.get("kind") == "arrivals"


def aggregate_key(agg: Aggregate) -> str:
    return queue_key(agg["queue"], agg["channel"])


def new_bucket(key: str, start: int, partition: int) -> Aggregate:
    # fields: counter key | "<hist>:sum|count|b<i>" -> number; agents: agent id -> 1
    return {"key": key, "start": start, "partition": partition, "fields": {}, "agents": {}, "applied": {}}


def apply_facts(
    agg: Aggregate,
    facts: Iterable[list[Any]],
    source: str,
    offset: int,
    bucket_seconds: int,
    grace_seconds: int,
    buckets: MutableMapping[str, Aggregate],
    history_days: int = 0,
    day_start: Callable[[float], float] | None = None,
) -> bool:
    """Add the facts one source record produced; False if that record was applied before.

    Records of one source partition reach one aggregate in offset order, so remembering
    the last applied offset per source partition is enough to drop replays exactly.
    Buckets are read from and written to ``buckets`` (the same table, live); the caller
    writes ``agg`` afterwards. With ``history_days``, arrivals are also counted per quarter-hour
    for that many days (:mod:`metrics.aggregates.history`), in records of the same table. With
    ``day_start`` (a moment -> the start of the queue's day holding it), today's counts are kept
    too (:mod:`metrics.aggregates.today`).
    """
    applied = agg["applied"]
    last = applied.get(source)
    if last is not None and offset <= last:
        return False
    applied[source] = offset
    totals = agg["totals"]
    hist = agg["hist"]
    key = aggregate_key(agg)
    with_buckets = agg.get("kind") != "customers"
    with_history = with_buckets and history_days > 0
    with_today = with_buckets and day_start is not None
    touched: dict[str, Aggregate | None] = {}
    watermarks = agg["watermarks"]
    for at, counts, observations, extra in facts:
        clock = extra.get("clock", source) if extra else source
        watermark = agg["watermark"]
        source_mark = watermarks.get(clock)
        start = int(at // bucket_seconds) * bucket_seconds
        late = (source_mark is not None and source_mark >= start + bucket_seconds + grace_seconds) or (
            watermark is not None and start < _horizon(watermark, bucket_seconds, grace_seconds)
        )
        if source_mark is None or at > source_mark:
            watermarks[clock] = at
        if watermark is None or at > watermark:
            agg["watermark"] = at
        fields = agents = None
        if late:
            agg["late"] += 1
        else:
            if with_buckets:
                bucket = _bucket(
                    agg, key, start, source, offset, buckets, touched, bucket_seconds, grace_seconds
                )
                if bucket is not None:
                    fields, agents = bucket["fields"], bucket["agents"]
        for name, n in counts.items():
            totals[name] = totals.get(name, 0) + n
            if fields is not None:
                fields[name] = fields.get(name, 0) + n
        if with_history:
            count_history(agg, key, at, counts, observations, source, offset, buckets, touched, history_days)
        if with_today:
            count_today(agg, at, counts, observations, day_start)
        for name, value in observations.items():
            spec = HISTOGRAM_BY_KEY[name]
            row = hist.get(name)
            if row is None:
                row = hist[name] = [0] * (len(spec.buckets) + 1) + [0.0]
            slot = bisect_left(spec.buckets, value)
            row[slot] += 1
            row[-1] += value
            if fields is not None:
                fields[name + ":sum"] = fields.get(name + ":sum", 0.0) + value
                fields[name + ":count"] = fields.get(name + ":count", 0) + 1
                if spec.quantiles:
                    fields[f"{name}:b{slot}"] = fields.get(f"{name}:b{slot}", 0) + 1
        if extra:
            agent = extra.get("agent")
            if agent is not None and agents is not None:
                agents[agent] = 1
            levels = extra.get("levels")
            if levels is not None:
                for name, since, delta in levels:
                    _track_level(agg, name, since, delta, bucket_seconds)
        if "days" in agg:
            count_period(agg, at, counts)
    for bucket_key, bucket in touched.items():
        if bucket is None:
            buckets.pop(bucket_key, None)
        else:
            buckets[bucket_key] = bucket
    return True


def _bucket(
    agg: Aggregate,
    key: str,
    start: int,
    source: str,
    offset: int,
    buckets: MutableMapping[str, Aggregate],
    touched: dict[str, Aggregate | None],
    bucket_seconds: int,
    grace_seconds: int,
) -> Aggregate | None:
    """The bucket a fact of this record goes into, or None if the bucket already has it."""
    bucket_key = _bucket_key(key, start)
    bucket = touched.get(bucket_key)
    if bucket is not None:
        return bucket
    bucket = buckets.get(bucket_key)
    if bucket is None:
        bucket = new_bucket(key, start, agg["partition"])
        starts = agg["bucket_starts"]
        starts.append(start)
        starts.sort()
        _expire(agg, key, touched, bucket_seconds, grace_seconds)
    else:
        last = bucket["applied"].get(source)
        if last is not None and offset <= last:
            return None  # written before a crash that lost the aggregate's own write
    bucket["applied"][source] = offset
    touched[bucket_key] = bucket
    return bucket


def _horizon(watermark: float, bucket_seconds: int, grace_seconds: int) -> float:
    """Buckets starting before this can no longer be in any window."""
    return watermark - LONGEST_WINDOW - grace_seconds - bucket_seconds


def _expire(
    agg: Aggregate, key: str, touched: dict[str, Aggregate | None], bucket_seconds: int, grace_seconds: int
) -> None:
    horizon = _horizon(agg["watermark"], bucket_seconds, grace_seconds)
    starts = agg["bucket_starts"]
    while starts and starts[0] < horizon:
        touched[_bucket_key(key, starts.pop(0))] = None


def _track_level(agg: Aggregate, name: str, since: float, delta: int, bucket_seconds: int) -> None:
    """Move one entity into (+1) or out of (−1) a level, remembering since when it is there.

    The count is kept in the totals under the level's name. For the levels of
    :data:`~metrics.definitions.LEVEL_RESOLUTION`, so are the times, to that resolution: the second
    for callers waiting, the bucket for tickets, the hour for agents, so a queue's aggregate stays
    small however many tickets are open.
    """
    totals = agg["totals"]
    totals[name] = totals.get(name, 0) + delta
    if name not in LEVEL_RESOLUTION:
        return
    resolution = LEVEL_RESOLUTION[name] or bucket_seconds
    key = str(int(since // resolution) * resolution)
    since_map = agg.setdefault("levels", {}).setdefault(name, {})
    n = since_map.get(key, 0) + delta
    if n:
        since_map[key] = n
    else:
        since_map.pop(key, None)


def oldest_age(agg: Aggregate, level: str, now: float, horizon: float | None = None) -> float | None:
    """How long the oldest entity in ``level`` has been there (to its resolution); None if it is empty.

    With ``horizon``, entities there for longer are left out (see :func:`level_count`).
    """
    start = oldest_start(agg, level, -float("inf") if horizon is None else now - horizon)
    return None if start is None else max(0.0, now - start)


def oldest_start(agg: Aggregate, level: str, first: float = -float("inf")) -> float | None:
    """When the oldest entity in ``level`` (that entered at ``first`` or later) entered it."""
    entries = agg.get("levels", {}).get(level)
    if not entries:
        return None
    # A backlog of days holds thousands of entry times, read at every scrape: one pass, one parse.
    if first == -math.inf and min(entries.values()) > 0:  # no entry left before it entered
        return min(map(int, entries))
    starts = [int(k) for k, n in entries.items() if n > 0]
    if first > -math.inf:
        starts = [start for start in starts if start >= first]
    return min(starts) if starts else None


def level_count(agg: Aggregate, level: str, now: float, horizon: float) -> int:
    """Entities in ``level`` that entered it within ``horizon`` seconds of ``now``.

    For levels no entity can stay in for long (a caller does not wait a day): one whose leaving
    event was lost stops counting after the horizon instead of for ever. Its entry is kept, so
    a leaving event that does come still removes it.
    """
    first = now - horizon
    return sum(n for k, n in agg.get("levels", {}).get(level, {}).items() if int(k) >= first)
