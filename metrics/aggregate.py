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

from bisect import bisect_left
from collections.abc import Iterable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from metrics.definitions import (
    CONVERSATIONS,
    COUNTERS,
    HISTOGRAM_BY_KEY,
    HISTOGRAMS,
    LONGEST_WINDOW,
    RATIOS,
    term_sum,
)

Aggregate = dict[str, Any]

# Daily customer-base counts are kept this long; older days fold into one running total.
DAYS_KEPT = 62


def new_aggregate(queue: str, channel: str, partition: int) -> Aggregate:
    return {
        "queue": queue,
        "channel": channel,
        "partition": partition,  # partition of the fact stream; decides which worker exports it
        "totals": {},  # counter key -> count; "tickets_open" is a level (backlog), not monotonic
        "hist": {},  # histogram key -> [per-bucket counts..., +Inf count, sum]
        "bucket_starts": [],  # starts of this aggregate's live buckets, oldest first
        "open_since": {},  # str(minute an open period began) -> tickets still open from then
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


def aggregate_key(agg: Aggregate) -> str:
    return f"{agg['queue']}|{agg['channel']}"


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
) -> bool:
    """Add the facts one source record produced; False if that record was applied before.

    Records of one source partition reach one aggregate in offset order, so remembering
    the last applied offset per source partition is enough to drop replays exactly.
    Buckets are read from and written to ``buckets`` (the same table, live); the caller
    writes ``agg`` afterwards.
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
            opened = extra.get("open")
            if opened is not None:
                _track_open(agg, opened[0], opened[1], bucket_seconds)
        if "days" in agg:
            _count_period(agg, at, counts)
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
    bucket_key = f"{key}|{start}"
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
        touched[f"{key}|{starts.pop(0)}"] = None


def _track_open(agg: Aggregate, since: float, delta: int, bucket_seconds: int) -> None:
    totals = agg["totals"]
    totals["tickets_open"] = totals.get("tickets_open", 0) + delta
    key = str(int(since // bucket_seconds) * bucket_seconds)
    opens = agg["open_since"]
    n = opens.get(key, 0) + delta
    if n:
        opens[key] = n
    else:
        opens.pop(key, None)


def _count_period(agg: Aggregate, at: float, counts: dict[str, int]) -> None:
    moment = datetime.fromtimestamp(at, UTC)
    for table, key in (("days", moment.strftime("%Y-%m-%d")), ("months", moment.strftime("%Y-%m"))):
        row = agg[table].setdefault(key, {})
        for name, n in counts.items():
            row[name] = row.get(name, 0) + n
    days = agg["days"]
    if len(days) > DAYS_KEPT:
        for key in sorted(days)[: len(days) - DAYS_KEPT]:
            row = days.pop(key)
            agg["before_days"] += row.get("customers_joined", 0) - row.get("customers_churned", 0)


def oldest_open_age(agg: Aggregate, now: float) -> float | None:
    """Age of the oldest open ticket, to the bucket its open period began in; None if none is open."""
    starts = [int(k) for k, n in agg["open_since"].items() if n > 0]
    return max(0.0, now - min(starts)) if starts else None


def window_sums(
    buckets: Iterable[Aggregate], now: float, window_seconds: int, bucket_seconds: int
) -> dict[str, float]:
    """Sum every bucket field over the window ending at ``now``.

    The window is the bucket holding ``now`` plus the whole buckets before it, up to
    ``window_seconds`` in all; buckets stamped after ``now`` (producer clocks running
    ahead) are included rather than hidden.
    """
    first = int(now // bucket_seconds) * bucket_seconds - window_seconds + bucket_seconds
    sums: dict[str, float] = {}
    agents: set[str] = set()
    for bucket in buckets:
        if bucket["start"] >= first:
            for name, value in bucket["fields"].items():
                sums[name] = sums.get(name, 0) + value
            agents.update(bucket["agents"])
    sums["agents"] = len(agents)
    return sums


def windows_sums(
    buckets: Iterable[Aggregate], now: float, windows: dict[str, int], bucket_seconds: int
) -> dict[str, dict[str, float]]:
    """:func:`window_sums` of several windows in one pass over the buckets.

    Windows all end at ``now``, so they nest: each bucket is added to the shortest window
    holding it, and each longer window adds the shorter ones' sums to its own.
    """
    current = int(now // bucket_seconds) * bucket_seconds
    order = sorted(windows.items(), key=lambda item: item[1])
    firsts = [current - seconds + bucket_seconds for _, seconds in order]
    rings: list[tuple[dict[str, float], set[str]]] = [({}, set()) for _ in order]
    for bucket in buckets:
        start = bucket["start"]
        for first, (sums, agents) in zip(firsts, rings, strict=True):
            if start >= first:
                for name, value in bucket["fields"].items():
                    sums[name] = sums.get(name, 0) + value
                agents.update(bucket["agents"])
                break
    out: dict[str, dict[str, float]] = {}
    running: dict[str, float] = {}
    seen: set[str] = set()
    for (label, _), (sums, agents) in zip(order, rings, strict=True):
        for name, value in sums.items():
            running[name] = running.get(name, 0) + value
        seen |= agents
        out[label] = {**running, "agents": len(seen)}
    return out


def window_values(sums: dict[str, float], window_seconds: int, hourly_cost: float) -> dict[str, float]:
    """The windowed gauges one window's sums yield: counts, ratios, means, quantiles, work measures.

    A ratio, mean or quantile with nothing to divide by is left out rather than reported as 0 or NaN.
    """
    values: dict[str, float] = {c.key: sums.get(c.key, 0) for c in COUNTERS}
    for ratio in RATIOS:
        denominator = term_sum(sums, ratio.denominator)
        if denominator > 0:
            values[ratio.key] = term_sum(sums, ratio.numerator) / denominator * ratio.scale
    for spec in HISTOGRAMS:
        count = sums.get(spec.key + ":count", 0)
        if count:
            values[spec.key + ":mean"] = sums[spec.key + ":sum"] / count
            for q in spec.quantiles:
                counts = [sums.get(f"{spec.key}:b{i}", 0) for i in range(len(spec.buckets) + 1)]
                values[f"{spec.key}:q{q}"] = bucket_quantile(q, spec.buckets, counts)
    agents = sums.get("agents", 0)
    values["active_agents"] = agents
    conversations = term_sum(sums, CONVERSATIONS)
    agent_hours = agents * window_seconds / 3600.0
    if agent_hours:
        values["resolutions_per_agent_hour"] = conversations / agent_hours
    if conversations:
        values["cost_per_conversation"] = agent_hours * hourly_cost / conversations
    return values


def bucket_quantile(q: float, bounds: tuple[float, ...], counts: list[float]) -> float:
    """Quantile from per-bucket counts, interpolating linearly inside the bucket (as PromQL does)."""
    total = sum(counts)
    rank = q * total
    cumulative = 0.0
    for i, n in enumerate(counts):
        if cumulative + n >= rank and n:
            if i == len(bounds):  # the +Inf bucket: the highest finite bound is the best estimate
                return bounds[-1]
            lower = bounds[i - 1] if i else 0.0
            return lower + (bounds[i] - lower) * (rank - cumulative) / n
        cumulative += n
    return bounds[-1]


def _net(row: dict[str, int]) -> int:
    return row.get("customers_joined", 0) - row.get("customers_churned", 0)


def customer_periods(agg: Aggregate, now: float, base: int) -> dict[str, tuple[float, float]]:
    """Retention and churn ratios of the current and previous day and month (UTC).

    CRR = (CE − CN) ÷ CS and churn = churned ÷ CS, where CS is the customer count at the
    period's start, CN the customers who joined in it and CE the count at its end (or now).
    A period that started with no customers has neither.
    """
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.strftime("%Y-%m-%d")
    yesterday = datetime.fromtimestamp(now - 86400, UTC).strftime("%Y-%m-%d")
    month = moment.strftime("%Y-%m")
    previous_month = f"{moment.year - 1}-12" if moment.month == 1 else f"{moment.year}-{moment.month - 1:02d}"
    out: dict[str, tuple[float, float]] = {}
    for label, table, key, start_base in (
        ("day", "days", day, base + agg["before_days"]),
        ("previous_day", "days", yesterday, base + agg["before_days"]),
        ("month", "months", month, base),
        ("previous_month", "months", previous_month, base),
    ):
        rows = agg[table]
        start = start_base + sum(_net(r) for k, r in rows.items() if k < key)
        row = rows.get(key, {})
        joined, churned = row.get("customers_joined", 0), row.get("customers_churned", 0)
        if start > 0:
            end = start + joined - churned
            out[label] = ((end - joined) / start, churned / start)
    return out


def active_customers(agg: Aggregate, base: int) -> int:
    totals = agg["totals"]
    return base + totals.get("customers_joined", 0) - totals.get("customers_churned", 0)


# Label values beyond the cap are folded into this one.
OTHER = "other"


def new_label_record(partition: int) -> Aggregate:
    """The queue and channel values one fact partition has admitted, and how many it folded."""
    return {"kind": "labels", "partition": partition, "queue": [], "channel": [], "folded": {}}


def admit_labels(record: Aggregate, queue: str, channel: str, cap: int) -> tuple[str, str, bool]:
    """The label values to count a fact under: its own, or ``other`` once ``cap`` values are in.

    Returns ``(queue, channel, changed)``; ``changed`` tells the caller to save the record.
    A flood of made-up queue or channel names then costs at most ``cap`` series per label.
    """
    changed = False
    out = []
    for label, value in (("queue", queue), ("channel", channel)):
        known = record[label]
        if value == OTHER or value in known:
            out.append(value)
        elif len(known) < cap:
            known.append(value)
            out.append(value)
            changed = True
        else:
            record["folded"][label] = record["folded"].get(label, 0) + 1
            out.append(OTHER)
            changed = True
    return out[0], out[1], changed
