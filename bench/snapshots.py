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

The warm-up of a large centre takes minutes; ``--state FILE`` keeps the warmed state (pickled,
a few hundred MB) and later runs with the same ``--state`` start from it, so a change to the
snapshot is compared before and after on the same state in seconds. The file is only valid for
the code that wrote it: delete it after changing how state is kept.

Settings come from the ``CXPULSE_*`` variables, as for ``cxpulse replay`` (the documented backfill
trims the windowed gauges: ``CXPULSE_EXPORT_WINDOWS='[]' CXPULSE_EXPORT_WINDOW_COUNTS=false``).
"""

from __future__ import annotations

import argparse
import cProfile
import pickle
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics.export.family_filter import FamilyFilter  # noqa: E402
from metrics.export.openmetrics import OpenMetricsWriter  # noqa: E402
from streams.cli.gc_tuning import tune_gc  # noqa: E402
from streams.replay.driver import Record, Replay, record_from_line, run  # noqa: E402
from streams.settings import Settings  # noqa: E402

DAY = 86400


def records(path: Path, after: int = 0) -> Iterator[Record]:
    """The history's records, from the line after line ``after`` on (those before are skipped
    now, not while the records are timed)."""
    lines = open(path, "rb")  # noqa: SIM115 - closed by the generator
    for _ in islice(lines, after):
        pass
    return _parsed(lines, path.name, after + 1)


def _parsed(lines: IO[bytes], name: str, first: int) -> Iterator[Record]:
    with lines:
        for number, line in enumerate(lines, start=first):
            stripped = line.strip()
            if stripped:
                yield record_from_line(stripped, f"{name}:0", number)


def warm_up(history: Path, days: float) -> tuple[Replay, Iterator[Record], tuple, float]:
    """The replay after ``days`` of the history without snapshots, the rest of the records, the
    first record past the warm-up (read, not applied) and its event, and when the warm-up ends."""
    engine = Replay(Settings())
    engine.keep_rejections = False
    feed = records(history)
    warm_until = None
    for record in feed:
        event = engine.accept(record)
        if event is None:
            continue
        if warm_until is None:
            warm_until = event.at + days * DAY
        elif event.at > warm_until:
            return engine, feed, (record, event), warm_until
        engine.apply(event, record)
    raise SystemExit(f"{history} holds less than {days} days of events")


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
    parser.add_argument(
        "--state", type=Path, help="keep the warmed state in this file, or start from it if it is there"
    )
    args = parser.parse_args()

    tune_gc()  # as `cxpulse replay` does
    sys.setrecursionlimit(100_000)  # pickling the state walks its nested documents deeply
    started = time.perf_counter()
    if args.state is not None and args.state.exists():
        with open(args.state, "rb") as kept:
            engine, held, warm_until, warmed = pickle.load(kept)
        if warmed != (args.history.name, args.warm):
            raise SystemExit(f"{args.state} holds {warmed[1]} days of {warmed[0]}: delete it or pick another")
        feed = records(args.history, after=held[0].offset)
        print(f"warm state read from {args.state} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    else:
        engine, feed, held, warm_until = warm_up(args.history, args.warm)
        took = time.perf_counter() - started
        print(f"warm-up: {args.warm} days in {took:.1f} s", file=sys.stderr, flush=True)
        if args.state is not None:
            with open(args.state, "wb") as kept:
                pickle.dump((engine, held, warm_until, (args.history.name, args.warm)), kept, protocol=5)

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
