"""A backfill writes only what carries information, and what it writes reads as if written every step."""

from __future__ import annotations

import bisect
import glob
import json
import re
from collections import defaultdict
from pathlib import Path

import yaml
from replay_run import replay, write_jsonl

from metrics.export.cadence import READ_BY_SHIPPED_QUERIES, Reads
from streams.tools.centre_profiles import PROFILES
from streams.tools.simulator import Traffic

ROOT = Path(__file__).resolve().parent.parent
# A raw series in a query: not part of a recording rule's name, with its labels and range if any.
SELECTOR = re.compile(r"(?<![:\w])(cxpulse_[a-z0-9_]+)(?![:\w])\s*(\{[^}]*\})?\s*(\[(\d+)([smhd])\])?")
UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def shipped_queries() -> list[str]:
    found = []
    for path in sorted(glob.glob(str(ROOT / "deploy/prometheus/rules/*.yml"))):
        for group in yaml.safe_load(Path(path).read_text())["groups"]:
            found += [rule["expr"] for rule in group["rules"]]

    def panels(items: list[dict]) -> list[dict]:
        return [p for item in items for p in (item, *panels(item.get("panels", [])))]

    for path in sorted(glob.glob(str(ROOT / "deploy/grafana/dashboards/*.json"))):
        for panel in panels(json.loads(Path(path).read_text()).get("panels", [])):
            found += [target["expr"] for target in panel.get("targets", [])]
    return found


def test_the_cadence_table_is_how_the_shipped_rules_and_dashboards_read_each_series() -> None:
    ranges: dict[str, set[int]] = defaultdict(set)
    instant: set[str] = set()
    for query in shipped_queries():
        for found in SELECTOR.finditer(query):
            if found[3]:
                ranges[found[1]].add(int(found[4]) * UNIT[found[5]])
            else:
                instant.add(found[1])
    names = sorted({*ranges, *instant})
    derived = {name: Reads(tuple(sorted(ranges.get(name, ()))), name in instant) for name in names}
    table = {name: Reads(tuple(sorted(r.ranges)), r.instant) for name, r in READ_BY_SHIPPED_QUERIES.items()}
    assert table == derived


def points(path: Path) -> dict[str, dict[float, str]]:
    series: dict[str, dict[float, str]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            head, value, at = line.rsplit(" ", 2)
            series[head][float(at)] = value
    return series


def test_a_sparse_replay_reads_like_one_written_every_step(tmp_path: Path) -> None:
    """Two days of a small centre, Saturday's close and a closed Sunday among them: every
    series' value at every step, read as Prometheus reads it (the latest sample), is the same
    from the sparse file as from the one written at every step; a series starts and ends on the
    same step in both."""
    end = 1_780_315_200.0  # Monday 1 June 2026, 12:00 UTC: Saturday's close, Sunday, Monday morning
    events = [ev for _, _, ev in Traffic(start=end - 2 * 86400, seed=5, profile=PROFILES["small"]).until(end)]
    source = write_jsonl(tmp_path / "events.jsonl", events)
    sparse, dense = tmp_path / "sparse.om", tmp_path / "dense.om"
    replay([str(source), "--out", str(sparse)], env={})
    replay([str(source), "--out", str(dense), "--every-step"], env={})
    got, full = points(sparse), points(dense)
    assert set(got) == set(full)
    differ = []
    for series, every in full.items():
        times = sorted(got[series])
        assert set(times) <= set(every)
        steps = sorted(every)
        assert (times[0], times[-1]) == (steps[0], steps[-1]), series
        for at in steps:
            latest = times[bisect.bisect_right(times, at) - 1]
            if got[series][latest] != every[at]:
                differ.append((series, at, every[at], got[series][latest]))
    assert differ == []
    written, every_step = sum(map(len, got.values())), sum(map(len, full.values()))
    assert written < every_step / 2, (written, every_step)
