"""Backfill benchmark: a simulated history from JSON Lines to blocks in a Prometheus data folder.

    python bench/backfill.py                       # two weeks of the small centre
    python bench/backfill.py --profile large --days 91

Stages, each timed and printed: simulating the history (not part of a backfill), the replay
without snapshots (the baseline: the KPI rules alone), the replay written at every step, the
replay written sparsely, and the documented path end to end (``cxpulse replay --prometheus-data``:
sparse blocks, one promtool run per block). Figures go to ``--json`` too.
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
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    cxpulse = [sys.executable, "-m", "streams.cli"]
    work = Path(tempfile.mkdtemp(prefix="cxpulse-backfill-"))
    figures: dict[str, float | int | str] = {"profile": args.profile, "days": args.days}
    try:
        history = work / "history.jsonl"
        seconds, _ = timed(
            "simulating",
            [
                *cxpulse,
                "simulate",
                "--profile",
                args.profile,
                "--history",
                f"{args.days}d",
                "--jsonl",
                str(history),
            ],
            ENV,
        )
        with open(history, "rb") as lines:
            records = sum(1 for _ in lines)
        figures.update(records=records, simulate_s=round(seconds, 1))
        replay = [*cxpulse, "replay", str(history), "--quiet"]
        rows = []
        seconds, _ = timed(
            "replay, no snapshots (baseline)", [*replay, "--step", "0", "--out", str(work / "final.om")], ENV
        )
        rows.append(("replay, final snapshot only (baseline)", seconds, None, None))
        if not args.skip_every_step:
            out = work / "every.om"
            seconds, log = timed(
                "replay, every series every minute", [*replay, "--every-step", "--out", str(out)], ENV
            )
            rows.append(
                ("replay, every series every minute", seconds, _samples(log), out.stat().st_size / 1e6)
            )
            out.unlink()
        out = work / "sparse.om"
        seconds, log = timed("replay, sparse", [*replay, "--out", str(out)], ENV)
        rows.append(("replay, sparse (one file)", seconds, _samples(log), out.stat().st_size / 1e6))
        out.unlink()
        data = work / "data"
        seconds, log = timed(
            "replay and load (cxpulse replay --prometheus-data)",
            [*replay, "--prometheus-data", str(data)],
            ENV,
        )
        rows.append(("replay + promtool, one file per block", seconds, _samples(log), folder_mb(data)))
        print(f"\n{records} records, {args.days:g} days of the {args.profile} centre\n")
        print(f"{'stage':42} {'seconds':>8} {'records/s':>10} {'samples':>12} {'MB':>8}")
        for label, secs, samples, mb in rows:
            print(
                f"{label:42} {secs:8.1f} {records / secs:10,.0f} "
                f"{'' if samples is None else f'{samples:,}':>12} {'' if mb is None else f'{mb:.0f}':>8}"
            )
            key = label.split(",")[1].strip().split(" ")[0] if "," in label else label
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
