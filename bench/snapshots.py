"""What a replay's per-minute snapshot costs at a chosen point of a long history.

A backfill of months slows as the history fills up (four weeks of arrivals behind every forecast,
days of open tickets behind every age): the figure that decides a quarter's time is the snapshot
late in the history, not the one of its first days. This replays the first ``--warm`` days of a
JSON Lines history without snapshots (the state a snapshot reads), then ``--hours`` more with a
snapshot every minute into two-hour block files, and prints, for that stretch, the time spent in
snapshots and outside them: the records/s without snapshots is the baseline measured in the same
run, over the same records.

    cxpulse simulate --profile large --history 42d --jsonl large.jsonl
    python bench/snapshots.py large.jsonl --warm 35.33 --hours 6
    python bench/snapshots.py large.jsonl --warm 35.33 --hours 3 --families rules,dashboards --profile 30

Settings come from the ``CXPULSE_*`` variables, as for ``cxpulse replay`` (the documented backfill
trims the windowed gauges: ``CXPULSE_EXPORT_WINDOWS='[]' CXPULSE_EXPORT_WINDOW_COUNTS=false``).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics.export.family_filter import FamilyFilter  # noqa: E402
from metrics.export.openmetrics import OpenMetricsWriter  # noqa: E402
from streams.cli.gc_tuning import tune_gc  # noqa: E402
from streams.replay.driver import Record, Replay, record_from_line, run  # noqa: E402
from streams.settings import Settings  # noqa: E402

DAY = 86400


def records(path: Path) -> Iterator[Record]:
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            stripped = line.strip()
            if stripped:
                yield record_from_line(stripped, f"{path.name}:0", number)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("history", type=Path, help="JSON Lines events, in the order they happened")
    parser.add_argument("--warm", type=float, default=35.33, help="days replayed first, without snapshots")
    parser.add_argument(
        "--hours", type=float, default=6.0, help="hours then replayed with a snapshot a minute"
    )
    parser.add_argument("--families", default="", help="write only these families (as cxpulse replay)")
    parser.add_argument("--profile", type=int, default=0, help="print the snapshot's N costliest functions")
    args = parser.parse_args()

    tune_gc()  # as `cxpulse replay` does
    engine = Replay(Settings())
    engine.keep_rejections = False
    feed = records(args.history)
    started = time.perf_counter()
    warm_until = held = None
    for record in feed:
        event = engine.accept(record)
        if event is None:
            continue
        if warm_until is None:
            warm_until = event.at + args.warm * DAY
        elif event.at > warm_until:
            held = (record, event)
            break
        engine.apply(event, record)
    if held is None or warm_until is None:
        raise SystemExit(f"{args.history} holds less than {args.warm} days of events")
    print(f"warm-up: {args.warm} days in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    keep = FamilyFilter(args.families.split(","), []) if args.families else None
    folder = Path(tempfile.mkdtemp(prefix="cxpulse-snapshots-"))
    writer = OpenMetricsWriter(folder, step=60.0, block_seconds=7200, keep=keep, on_block=Path.unlink)
    profile = cProfile.Profile() if args.profile else None
    spent = {"seconds": 0.0, "snapshots": 0, "records": 0}

    def snapshot(at: float) -> None:
        if profile is not None:
            profile.enable()
        began = time.perf_counter()
        engine.snapshot(writer.sink, at)
        spent["seconds"] += time.perf_counter() - began
        spent["snapshots"] += 1
        if profile is not None:
            profile.disable()

    def counted() -> Iterator[Record]:
        yield held[0]
        for record in feed:
            spent["records"] += 1
            yield record

    began = time.perf_counter()
    run(engine, counted(), 60.0, on_snapshot=snapshot, until=warm_until + args.hours * 3600)
    total = time.perf_counter() - began
    writer.close()
    n, seconds = spent["records"], spent["seconds"]
    print(
        f"{args.hours} h after day {args.warm}: {n} records, {spent['snapshots']} snapshots\n"
        f"  snapshots: {seconds:.2f} s, {seconds / max(spent['snapshots'], 1) * 1e3:.2f} ms each\n"
        f"  records/s without snapshots (baseline, same records): {n / max(total - seconds, 1e-9):,.0f}\n"
        f"  records/s with snapshots: {n / max(total, 1e-9):,.0f}"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
