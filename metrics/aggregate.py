"""Per-(queue, channel) aggregation of KPI facts: monotonic totals plus event-time buckets.

The whole aggregate of one queue and channel is one plain dict, stored as one value in a
Faust table: a fact costs one table write, and the counters, the buckets and the record
of which source offsets were already applied change together, so a crash can never
leave them out of step.

Windows: facts land in tumbling buckets of ``bucket_seconds`` by event time. A bucket
closes once the aggregate's watermark (the latest event time it has seen) passes the
bucket's end plus ``grace_seconds``; a fact for a closed bucket is *late*: it still
counts in the totals and histograms, but no window. Buckets older than the longest
window plus the grace are dropped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from metrics.definitions import COUNTERS, HISTOGRAM_BY_KEY, HISTOGRAMS, LONGEST_WINDOW, RATIOS

Aggregate = dict[str, Any]


def new_aggregate(queue: str, channel: str, partition: int) -> Aggregate:
    return {
        "queue": queue,
        "channel": channel,
        "partition": partition,  # partition of the fact stream; decides which worker exports it
        "totals": {},  # counter key -> count
        "hist": {},  # histogram key -> [per-bucket counts..., +Inf count, sum]
        "buckets": {},  # str(bucket start) -> {counter key | "<hist>:sum" | "<hist>:count": number}
        "watermark": None,
        "applied": {},  # source "topic:partition" -> last applied offset
        "late": 0,
    }


def apply_facts(
    agg: Aggregate,
    facts: Iterable[list[Any]],
    source: str,
    offset: int,
    bucket_seconds: int,
    grace_seconds: int,
) -> bool:
    """Add the facts one source record produced; False if that record was applied before.

    Records of one source partition reach one aggregate in offset order, so remembering
    the last applied offset per source partition is enough to drop replays exactly.
    """
    applied = agg["applied"]
    last = applied.get(source)
    if last is not None and offset <= last:
        return False
    applied[source] = offset
    totals = agg["totals"]
    hist = agg["hist"]
    buckets = agg["buckets"]
    for at, counts, observations in facts:
        watermark = agg["watermark"]
        start = int(at // bucket_seconds) * bucket_seconds
        late = watermark is not None and watermark >= start + bucket_seconds + grace_seconds
        bucket = None
        if late:
            agg["late"] += 1
        else:
            if watermark is None or at > watermark:
                agg["watermark"] = at
            key = str(start)
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = {}
                _expire(agg, bucket_seconds, grace_seconds)
        for name, n in counts.items():
            totals[name] = totals.get(name, 0) + n
            if bucket is not None:
                bucket[name] = bucket.get(name, 0) + n
        for name, value in observations.items():
            spec = HISTOGRAM_BY_KEY[name]
            row = hist.get(name)
            if row is None:
                row = hist[name] = [0] * (len(spec.buckets) + 1) + [0.0]
            row[bisect_left(spec.buckets, value)] += 1
            row[-1] += value
            if bucket is not None:
                bucket[name + ":sum"] = bucket.get(name + ":sum", 0.0) + value
                bucket[name + ":count"] = bucket.get(name + ":count", 0) + 1
    return True


def _expire(agg: Aggregate, bucket_seconds: int, grace_seconds: int) -> None:
    watermark = agg["watermark"]
    if watermark is None:
        return
    horizon = watermark - LONGEST_WINDOW - grace_seconds - bucket_seconds
    buckets = agg["buckets"]
    for key in [k for k in buckets if int(k) < horizon]:
        del buckets[key]


def window_sums(agg: Aggregate, now: float, window_seconds: int, bucket_seconds: int) -> dict[str, float]:
    """Sum every bucket field over the window ending at ``now``.

    The window is the bucket holding ``now`` plus the whole buckets before it, up to
    ``window_seconds`` in all; buckets stamped after ``now`` (producer clocks running
    ahead) are included rather than hidden.
    """
    first = int(now // bucket_seconds) * bucket_seconds - window_seconds + bucket_seconds
    sums: dict[str, float] = {}
    for key, fields in agg["buckets"].items():
        if int(key) >= first:
            for name, value in fields.items():
                sums[name] = sums.get(name, 0) + value
    return sums


def window_values(sums: dict[str, float]) -> dict[str, float]:
    """The windowed gauges one window's sums yield: counts, ratios and means.

    A ratio or mean with nothing to divide by is left out rather than reported as 0 or NaN.
    """
    values: dict[str, float] = {c.key: sums.get(c.key, 0) for c in COUNTERS}
    for ratio in RATIOS:
        denominator = sums.get(ratio.denominator, 0)
        if denominator:
            values[ratio.key] = sums.get(ratio.numerator, 0) / denominator
    for spec in HISTOGRAMS:
        count = sums.get(spec.key + ":count", 0)
        if count:
            values[spec.key + ":mean"] = sums[spec.key + ":sum"] / count
    return values
