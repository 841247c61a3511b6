"""What one scrape of /metrics costs a worker, by how many queue × channel pairs it exports.

    python bench/scrape.py                     # 20, 200 and 1000 pairs
    python bench/scrape.py --pairs 50,300 --json scrape.json
    python bench/scrape.py --windows 15m --no-window-counts   # with the export trimmed

Each pair's aggregate is filled as an hour of busy traffic leaves it (every counter and histogram
with data, an hour of one-minute buckets, open tickets, callers waiting, agents), and the
worker's own registry renders it, as the worker does on the event loop for each scrape. The
render time is the pause a scrape puts on the worker's event loop; it prints that time cold
(every bucket summed: the first scrape of each minute) and warm (settled buckets' sums kept:
the other scrapes), the time prometheus_client's own ``generate_latest`` takes for the same
(identical) text, the text's size and its series per pair, and a baseline measured in the same
run: the worker's own series only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client import generate_latest  # noqa: E402

from metrics.aggregates.queue import apply_facts, new_aggregate  # noqa: E402
from metrics.definitions import COUNTERS, HISTOGRAMS, WINDOWS  # noqa: E402
from metrics.export.collector import KpiCollector  # noqa: E402
from metrics.export.text import render as render_text  # noqa: E402
from metrics.export.worker import WorkerMetrics  # noqa: E402
from metrics.policy import Policy  # noqa: E402

BUCKET = 60


def aggregates(pairs: int, now: float) -> list[dict[str, Any]]:
    """An hour of facts for each of ``pairs`` queue × channel pairs: aggregates and their buckets."""
    values: list[dict[str, Any]] = []
    buckets: dict[str, dict[str, Any]] = {}
    for i in range(pairs):
        agg = new_aggregate(f"queue-{i // 6}", ("phone", "email", "chat", "web", "social", "sms")[i % 6], 0)
        for minute in range(60):
            at = now - 3600 + minute * 60 + 30
            counts = {c.key: 1 + (minute + i) % 3 for c in COUNTERS}
            observations = {h.key: float(10 + (minute * 37 + i) % 900) for h in HISTOGRAMS}
            levels = [["tickets_open", at, 1], ["status:new", at, 1], ["calls_waiting", at, 1],
                      ["agents:available", at, 1], ["agents:busy", at, 1]]  # fmt: skip
            fact = [at, counts, observations, {"agent": f"a{minute % 12}", "levels": levels}]
            apply_facts(agg, [fact], "tickets:0", minute, BUCKET, 120, buckets)
        values.append(agg)
    return values + list(buckets.values())


def render(metrics: WorkerMetrics, repeat: int = 5, write: Any = render_text) -> tuple[list[float], bytes]:
    """Render ``repeat`` times as the worker's /metrics page does; the first render is cold (every
    bucket summed), the next ones find the settled buckets' sums kept, as scrapes within a minute do."""
    times, text = [], b""
    for _ in range(repeat):
        began = time.perf_counter()
        text = write(metrics.registry)
        times.append(time.perf_counter() - began)
    return times, text


def measure(pairs: int, windows: dict[str, int] | None, window_counts: bool) -> dict[str, Any]:
    now = time.time()
    values = aggregates(pairs, now)
    metrics = WorkerMetrics()
    options: dict[str, Any] = {}
    if windows is not None:
        options["windows"] = windows
    if not window_counts:
        options["window_counts"] = False
    metrics.add_kpis(KpiCollector(lambda: values, BUCKET, Policy(), lambda: now, **options))
    times, text = render(metrics, write=lambda _: metrics.page())
    library_times, library_text = render(metrics, 2, generate_latest)
    assert library_text == text, "the page's text differs from prometheus_client's"
    series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    return {
        "pairs": pairs,
        "cold_ms": round(times[0] * 1000, 1),
        "warm_ms": round(statistics.median(times[1:]) * 1000, 1),
        "generate_latest_ms": round(min(library_times) * 1000, 1),
        "bytes": len(text),
        "series": series,
        "series_per_pair": round(series / pairs, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--pairs", default="20,200,1000", help="pair counts (comma-separated)")
    parser.add_argument("--windows", help="windows exported (comma-separated, e.g. 15m; default all)")
    parser.add_argument("--no-window-counts", action="store_true", help="leave out cxpulse_window_<counter>")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    windows = None if not args.windows else {w: WINDOWS[w] for w in args.windows.split(",")}
    baseline_times, baseline = render(WorkerMetrics())
    rows = []
    base_ms = statistics.median(baseline_times) * 1000
    print(f"baseline (the worker's own series only): {base_ms:.2f} ms, {len(baseline)} bytes")
    heads = ("pairs", "cold ms", "warm ms", "library ms", "KB", "series", "per pair")
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, (6, 8, 8, 11, 7, 8, 9), strict=True)))
    for pairs in (int(p) for p in args.pairs.split(",")):
        row = measure(pairs, windows, not args.no_window_counts)
        rows.append(row)
        cells = (row["cold_ms"], row["warm_ms"], row["generate_latest_ms"], row["bytes"] / 1024)
        print(f"{pairs:>6} {cells[0]:>8.1f} {cells[1]:>8.1f} {cells[2]:>11.1f} {cells[3]:>7.0f} "
              f"{row['series']:>8} {row['series_per_pair']:>9.1f}", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"scrape": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
