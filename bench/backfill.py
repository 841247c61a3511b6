"""Backfill benchmark: a simulated history from JSON Lines to blocks in a Prometheus data folder.

    python bench/backfill.py                       # two weeks of the small centre
    python bench/backfill.py --profile large --days 91
    python bench/backfill.py --history quarter.jsonl --families rules,dashboards --only-load

Stages, each timed and printed: simulating the history (not part of a backfill), the replay
without snapshots (the baseline: the KPI rules alone), the replay written at every step, the
replay written sparsely, and the documented path end to end (``cxpulse replay --prometheus-data``:
sparse blocks, one promtool run per block), in one process and with ``--jobs`` processes side by
side. Figures go to ``--json`` too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {**os.environ, "CXPULSE_EXPORT_WINDOWS": "[]", "CXPULSE_EXPORT_WINDOW_COUNTS": "false"}


def timed(label: str, args: list[str], env: dict[str, str]) -> tuple[float, str]:
    print(f"{label} ...", flush=True)
    started = time.monotonic()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{label} failed:\n{done.stderr}")
    return elapsed, done.stderr


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="small", help="simulator profile (small, large)")
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument(
        "--skip-every-step", action="store_true", help="skip the replay written at every step"
    )
    parser.add_argument("--history", type=Path, help="replay this JSON Lines file instead of simulating one")
    parser.add_argument("--families", help="passed to every replay (e.g. rules,dashboards)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="processes for the last stage, replay and load side by side (1: skip it)",
    )
    parser.add_argument(
        "--only-load",
        action="store_true",
        help="only the end-to-end stages (replay and load into Prometheus)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    cxpulse = [sys.executable, "-m", "streams.cli"]
    work = Path(tempfile.mkdtemp(prefix="cxpulse-backfill-"))
    figures: dict[str, float | int | str] = {"profile": args.profile, "days": args.days}
    try:
        history = args.history or work / "history.jsonl"
        if args.history is None:
            seconds, _ = timed(
                "simulating",
                [*cxpulse, "simulate", "--profile", args.profile, "--history", f"{args.days}d",
                 "--jsonl", str(history)],
                ENV,
            )  # fmt: skip
            figures["simulate_s"] = round(seconds, 1)
        else:
            figures.update(profile="", days=0, history=str(history))
        with open(history, "rb") as lines:
            records = sum(1 for _ in lines)
        figures["records"] = records
        replay = [*cxpulse, "replay", str(history), "--quiet"]
        if args.families:
            replay += ["--families", args.families]
        rows: list[tuple[str, str, float, int | None, float | None]] = []  # key, label, s, samples, MB
        if not args.only_load:
            seconds, _ = timed(
                "replay, no snapshots (baseline)",
                [*replay, "--step", "0", "--out", str(work / "final.om")],
                ENV,
            )
            rows.append(("final", "replay, final snapshot only (baseline)", seconds, None, None))
        if not args.skip_every_step and not args.only_load:
            out = work / "every.om"
            seconds, log = timed(
                "replay, every series every minute", [*replay, "--every-step", "--out", str(out)], ENV
            )
            rows.append(
                (
                    "every",
                    "replay, every series every minute",
                    seconds,
                    _samples(log),
                    out.stat().st_size / 1e6,
                )
            )
            out.unlink()
        if not args.only_load:
            out = work / "sparse.om"
            seconds, log = timed("replay, sparse", [*replay, "--out", str(out)], ENV)
            rows.append(
                ("sparse", "replay, sparse (one file)", seconds, _samples(log), out.stat().st_size / 1e6)
            )
            out.unlink()
        for jobs in sorted({1, args.jobs}):
            data = work / f"data-{jobs}"
            label = "replay + promtool, one file per block" + ("" if jobs == 1 else f", --jobs {jobs}")
            seconds, log = timed(label, [*replay, "--prometheus-data", str(data), "--jobs", str(jobs)], ENV)
            rows.append(
                (f"load_jobs{jobs}" if jobs > 1 else "one", label, seconds, _samples(log), folder_mb(data))
            )
            shutil.rmtree(data, ignore_errors=True)
        what = f"{args.days:g} days of the {args.profile} centre" if args.history is None else str(history)
        print(f"\n{records} records, {what}\n")
        print(f"{'stage':48} {'seconds':>8} {'records/s':>10} {'samples':>12} {'MB':>8}")
        for key, label, secs, samples, mb in rows:
            print(
                f"{label:48} {secs:8.1f} {records / secs:10,.0f} "
                f"{'' if samples is None else f'{samples:,}':>12} {'' if mb is None else f'{mb:.0f}':>8}"
            )
            figures[f"{key}_s"] = round(secs, 1)
            if samples is not None:
                figures[f"{key}_samples"] = samples
        print("(MB: the OpenMetrics file; for the last row, the Prometheus blocks)")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _samples(log: str) -> int:
    for line in log.splitlines():
        if line.startswith("wrote "):
            return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
