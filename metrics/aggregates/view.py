"""A read-only view of a queue's aggregate: what summaries print, without knowing the dicts' layout."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from metrics.documents import JsonObject


@dataclass(frozen=True, slots=True)
class QueueTotals:
    """A queue and channel's all-time totals, as the exported counters and histograms hold them."""

    queue: str
    channel: str
    counts: dict[str, float]  # counter key -> total; "tickets_open" is the backlog now
    sums: dict[str, float]  # histogram key -> sum of observations
    observations: dict[str, int]  # histogram key -> number of observations
    late: int

    def count(self, key: str) -> float:
        return self.counts.get(key, 0)

    def mean(self, key: str) -> float | None:
        """Mean of a histogram's observations; None when there are none."""
        n = self.observations.get(key, 0)
        return self.sums[key] / n if n else None

    def ratio(self, numerator: str, denominator: str) -> float | None:
        """Total of one counter ÷ total of another; None when the denominator is 0."""
        d = self.count(denominator)
        return self.count(numerator) / d if d else None


def queue_totals(values: Iterable[JsonObject]) -> list[QueueTotals]:
    """The queue aggregates among table values (buckets, customer base, label records skipped), sorted."""
    out = [
        QueueTotals(
            queue=agg["queue"],
            channel=agg["channel"],
            counts=dict(agg["totals"]),
            sums={key: row[-1] for key, row in agg["hist"].items()},
            observations={key: int(sum(row[:-1])) for key, row in agg["hist"].items()},
            late=agg["late"],
        )
        for agg in values
        if "totals" in agg and agg.get("kind") is None
    ]
    return sorted(out, key=lambda t: (t.queue, t.channel))
