"""A replay cut into slices of event time, one process each, writes the files of one replay."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from replay_run import replay, write_jsonl

from metrics.export.cadence import longest_dense_seconds
from streams.cli.main import main
from streams.replay.slices import WARM_COST, SliceFailed, plan, run_slices
from streams.simulator.centre_profiles import PROFILES
from streams.simulator.traffic import Traffic

END = 1780272000.0  # Monday 2026-06-01 00:00 UTC
BLOCK = 7200
DAY = 86400
# The windowed gauges trimmed, as the documented backfill does: the slices' own cost stays small.
TRIMMED = {"CXPULSE_EXPORT_WINDOWS": "[]", "CXPULSE_EXPORT_WINDOW_COUNTS": "false"}


def test_slices_cover_the_history_at_block_boundaries_with_equal_work() -> None:
    """Windows follow one another at block boundaries from the start to the end; each slice
    snapshots from a dense stretch and three steps before its window to as far after it, and
    the later a slice, the shorter its window (it first replays what comes before it)."""
    start = 1_700_000_000.0
    slices = plan(start, start + 91 * DAY, 3, 60.0, BLOCK)
    assert [s.number for s in slices] == [0, 1, 2]
    assert slices[0].window_from == -math.inf and slices[-1].window_until == math.inf
    assert slices[-1].last and not slices[0].last
    cuts = [s.window_from for s in slices[1:]]
    assert [s.window_until for s in slices[:-1]] == cuts
    assert all(cut % BLOCK == 0 for cut in cuts)
    margin = longest_dense_seconds() + 3 * 60
    assert margin == 3600 + 180
    assert slices[0].since is None and slices[-1].until is None
    for piece in slices[1:]:
        assert piece.since == piece.window_from - margin
    for piece in slices[:-1]:
        assert piece.until == piece.window_until + margin
    # Work: the days before a window at WARM_COST, the window's own days at 1.
    edges = [start, *cuts, start + 91 * DAY]
    work = [WARM_COST * (edges[k] - start) + (edges[k + 1] - edges[k]) for k in range(3)]
    assert max(work) - min(work) <= 2 * BLOCK, work
    assert edges[1] - edges[0] > edges[2] - edges[1] > edges[3] - edges[2]


def test_since_until_and_a_short_history_bound_the_slices() -> None:
    """--since and --until are a single replay's: the first slice starts at --since, every
    slice ends by --until; a history shorter than a block per slice gets fewer slices."""
    start = 1_700_006_400.0  # a block boundary
    since, until = start + 2 * DAY, start + 9 * DAY
    slices = plan(start, start + 30 * DAY, 2, 60.0, BLOCK, since, until)
    assert len(slices) == 2
    assert slices[0].since == since and slices[1].until == until
    assert since < slices[1].window_from < until
    assert slices[0].until is not None and slices[0].until <= until
    assert len(plan(start, start + BLOCK, 4, 60.0, BLOCK)) == 1
    assert len(plan(start, start + 3 * BLOCK, 8, 60.0, BLOCK)) == 3


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two and a half days of a small centre, Saturday's close and a closed Sunday among them."""
    tmp = tmp_path_factory.mktemp("slices")
    events = [
        ev for _, _, ev in Traffic(start=END - 2.5 * DAY, seed=11, profile=PROFILES["small"]).until(END)
    ]
    return write_jsonl(tmp / "events.jsonl", events)


def files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.om"))}


def summary(output: str) -> tuple[str, str]:
    """The KPI totals and what was read, from a replay's output."""
    totals = output.split("KPI totals")[1].split("records in")[0]
    return totals, output.split("records/s): ")[1].splitlines()[0]


@pytest.mark.parametrize(
    ("extra", "jobs"),
    [
        ([], (2, 3)),
        (["--every-step"], (2,)),
        (["--since", str(END - 2 * DAY + 1800), "--until", str(END - 7 * 3600 - 60)], (2,)),
    ],
    ids=["sparse", "every-step", "since-until"],
)
def test_slices_side_by_side_write_the_block_files_of_one_replay(
    source: Path, tmp_path: Path, extra: list[str], jobs: tuple[int, ...]
) -> None:
    """The same block files, byte for byte, from one process and from two or three slices; the
    summary is the whole history's."""
    one = replay([str(source), "--blocks", str(tmp_path / "one"), *extra], env=TRIMMED)
    whole = files(tmp_path / "one")
    assert len(whole) >= 20
    for n in jobs:
        args = [str(source), "--blocks", str(tmp_path / f"jobs{n}"), "--jobs", str(n), *extra]
        out = replay(args, env=TRIMMED)
        assert files(tmp_path / f"jobs{n}") == whole, n
        assert summary(out) == summary(one)


def test_slices_load_into_prometheus_and_say_what_they_need(source: Path, tmp_path: Path) -> None:
    """With --prometheus-data, each slice loads its blocks as it goes; --jobs wants files and blocks."""
    data = tmp_path / "data"
    output = replay([str(source), "--prometheus-data", str(data), "--jobs", "2"], env=TRIMMED)
    loaded = [p for p in data.iterdir() if (p / "meta.json").exists()]
    assert f"in {len(loaded)} blocks and loaded them into {data}" in output
    assert len(loaded) >= 20
    assert not (tmp_path / "data-openmetrics").exists()
    result = CliRunner().invoke(main, ["replay", "--quiet", str(source), "--jobs", "2"])
    assert result.exit_code == 2
    assert "--jobs replays JSON Lines FILES into block files" in result.output


def test_a_failing_slice_stops_the_others_and_says_why() -> None:
    """The first slice to fail is reported with its message; the others are stopped, not
    waited for, and progress from every slice reaches the parent."""
    pieces = plan(0.0, 10 * DAY, 2, 60.0, BLOCK)
    seen: list[tuple[int, float]] = []

    def work(piece, progress):  # type: ignore[no-untyped-def]
        progress(float(piece.number))
        if piece.number == 1:
            raise RuntimeError("promtool could not load cxpulse-0.om: out of space")
        time.sleep(3600)  # stopped by the parent, or the call below would wait an hour
        return {}

    started = time.monotonic()
    with pytest.raises(SliceFailed, match=re.escape("promtool could not load cxpulse-0.om: out of space")):
        run_slices(pieces, work, lambda number, clock: seen.append((number, clock)))
    assert time.monotonic() - started < 600  # not waited for
    assert (1, 1.0) in seen
    assert run_slices(pieces, lambda piece, progress: {"n": piece.number}, lambda *_: None) == [
        {"n": 0},
        {"n": 1},
    ]
