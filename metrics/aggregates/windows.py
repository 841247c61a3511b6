"""Rolling windows over a queue's event-time buckets: sums, then the gauges a window yields.

Windows end at the scrape's moment and are made of whole buckets (see
:mod:`metrics.aggregates.queue`); ratios, means and quantiles are declared in
:mod:`metrics.definitions` and computed here from the summed fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from metrics.definitions import CONVERSATIONS, COUNTERS, HISTOGRAMS, RATIOS, term_sum
from metrics.documents import Aggregate


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


def recent_sums(
    buckets: Sequence[Aggregate],
    now: float,
    window_seconds: int,
    bucket_seconds: int,
    fields: tuple[str, ...],
) -> dict[str, float]:
    """:func:`window_sums` of only ``fields`` (no count of agents), over ``buckets`` ordered oldest
    first: read from the newest back, so a short window reads its own buckets, not the hour's
    (live staffing, when no windowed gauge is exported, reads three sums of 15 minutes)."""
    first = int(now // bucket_seconds) * bucket_seconds - window_seconds + bucket_seconds
    sums: dict[str, float] = {}
    for bucket in reversed(buckets):
        if bucket["start"] < first:
            break
        held = bucket["fields"]
        for name in fields:
            if name in held:
                sums[name] = sums.get(name, 0) + held[name]
    return sums


Rings = list[tuple[dict[str, float], set[str]]]


def _rings(
    buckets: Iterable[Aggregate], current: int, order: list[tuple[str, int]], bucket_seconds: int
) -> Rings:
    """Each bucket's fields summed into the shortest of the (nested) windows holding it."""
    firsts = [current - seconds + bucket_seconds for _, seconds in order]
    rings: Rings = [({}, set()) for _ in order]
    for bucket in buckets:
        start = bucket["start"]
        for first, (sums, agents) in zip(firsts, rings, strict=True):
            if start >= first:
                for name, value in bucket["fields"].items():
                    sums[name] = sums.get(name, 0) + value
                agents.update(bucket["agents"])
                break
    return rings


def _windows(order: list[tuple[str, int]], *parts: Rings) -> dict[str, dict[str, float]]:
    """Each window's sums: its own ring's plus the shorter windows' (they nest), from every part."""
    out: dict[str, dict[str, float]] = {}
    running: dict[str, float] = {}
    seen: set[str] = set()
    for i, (label, _) in enumerate(order):
        for rings in parts:
            sums, agents = rings[i]
            for name, value in sums.items():
                running[name] = running.get(name, 0) + value
            seen |= agents
        out[label] = {**running, "agents": len(seen)}
    return out


def windows_sums(
    buckets: Iterable[Aggregate], now: float, windows: dict[str, int], bucket_seconds: int
) -> dict[str, dict[str, float]]:
    """:func:`window_sums` of several windows in one pass over the buckets.

    Windows all end at ``now``, so they nest: each bucket is added to the shortest window
    holding it, and each longer window adds the shorter ones' sums to its own.
    """
    current = int(now // bucket_seconds) * bucket_seconds
    order = sorted(windows.items(), key=lambda item: item[1])
    return _windows(order, _rings(buckets, current, order, bucket_seconds))


BLOCK_BUCKETS = 5  # settled buckets summed and kept together (aligned to the epoch, not to now)


class SettledWindows:
    """:func:`windows_sums` for repeated scrapes, keeping the settled buckets' sums between them.

    A scrape re-sums an hour of buckets per queue and channel, but all but the last few have not
    changed since the previous scrape. Buckets older than ``recent`` buckets are summed in blocks
    of :data:`BLOCK_BUCKETS` consecutive buckets, aligned to the epoch so a block stays the same
    block as time moves on (the windows' edges move every minute; a replay's snapshots move them
    every time): a block's sums are kept with a signature of what it held (each bucket's start and
    its :func:`_applied_mark`). A block lying within one window's ring is added whole; one across a
    ring's edge adds its buckets one by one, as do the newest buckets, summed at every scrape. The
    result is the same as :func:`windows_sums`.
    """

    def __init__(self, recent: int = 3) -> None:
        self.recent = recent
        # Aggregate key -> block number -> (signature, (sums, agents)).
        self._kept: dict[str, dict[int, tuple[tuple[Any, ...], tuple[dict[str, float], set[str]]]]] = {}
        self._used: set[str] = set()

    def __call__(
        self, key: str, buckets: Iterable[Aggregate], now: float, windows: dict[str, int], bucket_seconds: int
    ) -> dict[str, dict[str, float]]:
        current = int(now // bucket_seconds) * bucket_seconds
        order = sorted(windows.items(), key=lambda item: item[1])
        firsts = [current - seconds + bucket_seconds for _, seconds in order]
        cutoff = current - self.recent * bucket_seconds
        span = BLOCK_BUCKETS * bucket_seconds
        fresh: list[Aggregate] = []
        blocks: dict[int, list[Aggregate]] = {}
        for bucket in buckets:
            start = bucket["start"]
            if start >= cutoff:
                fresh.append(bucket)
            elif start >= firsts[-1]:
                blocks.setdefault(start // span, []).append(bucket)
        rings: Rings = [({}, set()) for _ in order]
        kept = self._kept.get(key, {})
        now_kept: dict[int, Any] = {}
        loose: list[Aggregate] = []
        for number, members in blocks.items():
            ring = _ring_of(number * span, firsts)
            if ring is None or ring != _ring_of(number * span + span - bucket_seconds, firsts):
                loose += members  # across a ring's edge: bucket by bucket
                continue
            members.sort(key=_start)
            signature = tuple((b["start"], _applied_mark(b)) for b in members)
            held = kept.get(number)
            if held is None or held[0] != signature:
                block: tuple[dict[str, float], set[str]] = ({}, set())
                for bucket in members:
                    _add(block, bucket["fields"], bucket["agents"])
                held = (signature, block)
            now_kept[number] = held
            _add(rings[ring], *held[1])
        self._kept[key] = now_kept
        self._used.add(key)
        loose += fresh
        for bucket in loose:
            ring = _ring_of(bucket["start"], firsts)
            if ring is not None:
                _add(rings[ring], bucket["fields"], bucket["agents"])
        return _windows(order, rings)

    def forget_unused(self) -> None:
        """Drop what was kept for aggregates not asked for since the last call (revoked, expired)."""
        used = self._used
        for key in [k for k in self._kept if k not in used]:
            del self._kept[key]
        used.clear()


def _start(bucket: Aggregate) -> int:
    return int(bucket["start"])


def _ring_of(start: int, firsts: list[int]) -> int | None:
    """The shortest window holding a bucket starting at ``start`` (None: in none of them)."""
    for ring, first in enumerate(firsts):
        if start >= first:
            return ring
    return None


def _add(into: tuple[dict[str, float], set[str]], fields: dict[str, float], agents: Iterable[str]) -> None:
    sums = into[0]
    for name, value in fields.items():
        sums[name] = sums.get(name, 0) + value
    into[1].update(agents)


def _applied_mark(bucket: Aggregate) -> int:
    """A number that grows with every source record applied to ``bucket``, late ones too.

    A bucket keeps the last offset it applied per source partition, and those only grow; but a
    partition's first record is at offset 0, so the offsets' sum alone would not move when a new
    source's first record lands in the bucket. Each source counts one more than its offset.
    """
    applied = bucket["applied"]
    return sum(applied.values()) + len(applied)


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
