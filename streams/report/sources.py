"""Where an interval report's totals come from: a Prometheus server's API, or a history file
replayed through the engine.

Both give, for each quarter-hour boundary of the report, each queue's running totals (its counters
and histogram sums summed over channels, and the backlog): :mod:`streams.report.intervals` turns
them into rows.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from streams.replay.driver import Record, Replay, run
from streams.replay.sources import JsonLines
from streams.report.intervals import COUNTERS, LEVELS, QUARTER_HOUR, SUMS, TOTALS, Totals
from streams.settings import Settings


def _query(total: str) -> str:
    """The PromQL of a total by queue at a boundary.

    A counter (or a histogram's sum and count) is its latest sample of the last day, the highest
    of the workers that exported it: a backfill writes a counter that stood still only as often as
    the shipped queries need (down to every half-hour), so a plain instant read can find nothing
    at a boundary, and after a partition moved the previous worker's series keeps its last value,
    which the new worker's (read from the same table) equals or passes. A level is read as it
    stands: it is written within every lookback, and an old worker's stale value would be wrong."""
    if total in LEVELS:
        return f"sum by (queue) (cxpulse_{total})"
    name = f"cxpulse_{total}_total" if total in COUNTERS else f"cxpulse_{total}"
    return f"sum by (queue) (max by (queue, channel) (last_over_time({name}[1d])))"


class PrometheusTotals:
    """Totals from a Prometheus server's ``/api/v1/query_range``, one query per series, a step of a
    quarter-hour. A counter without a sample at a boundary (before it existed, or a gap of more
    than a day) keeps its last value: counters never fall, so a gap is no negative interval."""

    def __init__(
        self, url: str, user: str | None = None, password: str | None = None, cafile: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {}
        if user is not None:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._context = ssl.create_default_context(cafile=cafile) if cafile else None

    def __call__(self, moments: Sequence[float]) -> list[dict[str, dict[str, float]]]:
        out: list[dict[str, dict[str, float]]] = [{} for _ in moments]
        for total in TOTALS:
            for queue, values in self._range(_query(total), moments).items():
                last = 0.0
                for i in range(len(moments)):
                    value = values.get(i)
                    if value is None:
                        value = 0.0 if total in LEVELS else last  # a level missing is empty
                    last = value
                    out[i].setdefault(queue, {})[total] = value
        return out

    def _range(self, query: str, moments: Sequence[float]) -> dict[str, dict[int, float]]:
        params = urllib.parse.urlencode(
            {"query": query, "start": moments[0], "end": moments[-1], "step": QUARTER_HOUR}
        )
        request = urllib.request.Request(f"{self.url}/api/v1/query_range?{params}", headers=self._headers)
        with urllib.request.urlopen(request, timeout=60, context=self._context) as response:
            answer = json.load(response)
        if answer.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {query!r}: {answer.get('error', answer)}")
        found: dict[str, dict[int, float]] = {}
        for series in answer["data"]["result"]:
            queue = series["metric"].get("queue")
            if queue is None:
                continue
            found[queue] = {
                round((float(at) - moments[0]) / QUARTER_HOUR): float(value) for at, value in series["values"]
            }
        return found


class HistoryTotals:
    """Totals from JSON Lines events replayed through the engine, as ``cxpulse replay`` does: the
    totals at a boundary hold every event stamped at or before it."""

    def __init__(
        self, paths: list[Path], settings: Settings, on_progress: Callable[[int], None] | None = None
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.on_progress = on_progress  # called with the bytes read since the last call

    def __call__(self, moments: Sequence[float]) -> list[dict[str, dict[str, float]]]:
        engine = Replay(self.settings)
        engine.keep_rejections = False
        wanted = {round(at): i for i, at in enumerate(moments)}
        out: list[dict[str, dict[str, float]] | None] = [None] * len(moments)

        def snapshot(at: float) -> None:
            i = wanted.get(round(at))
            if i is not None:
                out[i] = queue_totals(engine)

        def records() -> Iterator[Record]:
            for record, size in JsonLines(self.paths):
                if self.on_progress is not None:
                    self.on_progress(size)
                if record is not None:
                    yield record

        run(engine, records(), QUARTER_HOUR, on_snapshot=snapshot, until=moments[-1])
        final = queue_totals(engine)
        first = engine.clock
        return [
            found if found is not None else ({} if first is None or at < first else final)
            for at, found in zip(moments, out, strict=True)
        ]


def queue_totals(engine: Replay) -> dict[str, dict[str, float]]:
    """Each queue's totals now, summed over its channels."""
    out: dict[str, dict[str, float]] = {}
    for agg in engine.holdings().queues:
        mine = out.setdefault(agg["queue"], {})
        totals = agg["totals"]
        for name in (*COUNTERS, *LEVELS):
            mine[name] = mine.get(name, 0.0) + totals.get(name, 0)
        for histogram in SUMS:
            row = agg["hist"].get(histogram)
            if row:
                mine[f"{histogram}_sum"] = mine.get(f"{histogram}_sum", 0.0) + row[-1]
                mine[f"{histogram}_count"] = mine.get(f"{histogram}_count", 0.0) + sum(row[:-1])
    return out


Source = Callable[[Sequence[float]], Sequence[Totals]]
