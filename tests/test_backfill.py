"""A backfill writes only what carries information, and what it writes reads as if written every step."""

from __future__ import annotations

import bisect
import glob
import json
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import wait_for
from prometheus_server import PrometheusServer
from replay_run import replay, write_jsonl

from metrics.export.cadence import READ_BY_SHIPPED_QUERIES, Reads, read_by
from metrics.export.family_filter import FamilyFilter
from streams.cli.main import main
from streams.simulator.centre_profiles import PROFILES
from streams.simulator.traffic import Traffic

ROOT = Path(__file__).resolve().parent.parent
# A raw series in a query: not part of a recording rule's name, with its labels and range if any.
SELECTOR = re.compile(r"(?<![:\w])(cxpulse_[a-z0-9_]+)(?![:\w])\s*(\{[^}]*\})?\s*(\[(\d+)([smhd])\])?")
UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def recording_rules() -> dict[str, str]:
    return {
        rule["record"]: rule["expr"]
        for path in sorted(glob.glob(str(ROOT / "deploy/prometheus/rules/*.yml")))
        for group in yaml.safe_load(Path(path).read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def shipped_queries() -> dict[str, list[str]]:
    """The expressions of the shipped rules and of the dashboards' panels, by reader."""
    found: dict[str, list[str]] = {"rules": [], "dashboards": []}
    for path in sorted(glob.glob(str(ROOT / "deploy/prometheus/rules/*.yml"))):
        for group in yaml.safe_load(Path(path).read_text())["groups"]:
            found["rules"] += [rule["expr"] for rule in group["rules"]]

    def panels(items: list[dict]) -> list[dict]:
        return [p for item in items for p in (item, *panels(item.get("panels", [])))]

    for path in sorted(glob.glob(str(ROOT / "deploy/grafana/dashboards/*.json"))):
        for panel in panels(json.loads(Path(path).read_text()).get("panels", [])):
            # PromQL only: the agents table reads each worker's /agents, never a backfill.
            found["dashboards"] += [t["expr"] for t in panel.get("targets", []) if "expr" in t]
    return found


def inline_recordings(query: str, records: dict[str, str]) -> str:
    """``query`` with each recorded series replaced by the expression that records it."""
    for name, expr in records.items():
        query = re.sub(rf"(?<![:\w]){re.escape(name)}(?![:\w])", f"({expr})", query)
    return query


def test_the_cadence_table_is_how_the_shipped_rules_and_dashboards_read_each_series() -> None:
    ranges: dict[str, set[int]] = defaultdict(set)
    instant: set[str] = set()
    readers: dict[str, set[str]] = defaultdict(set)
    records = recording_rules()
    for reader, queries in shipped_queries().items():
        for query in queries:
            for found in SELECTOR.finditer(query):
                if found[3]:
                    ranges[found[1]].add(int(found[4]) * UNIT[found[5]])
                else:
                    instant.add(found[1])
            # A dashboard showing a recorded series needs what the recording rule reads.
            for found in SELECTOR.finditer(inline_recordings(query, records)):
                readers[found[1]].add(reader)
    names = sorted({*ranges, *instant})
    derived = {
        name: Reads(tuple(sorted(ranges.get(name, ()))), name in instant, frozenset(readers[name]))
        for name in names
    }
    table = {name: replace(r, ranges=tuple(sorted(r.ranges))) for name, r in READ_BY_SHIPPED_QUERIES.items()}
    assert table == derived


END = 1_780_315_200.0  # Monday 1 June 2026, 12:00 UTC: Saturday's close, Sunday, Monday morning


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two days of a small centre, Saturday's close and a closed Sunday among them, replayed into
    Prometheus data folders as the README says: sparse (the default) and at every step."""
    tmp = tmp_path_factory.mktemp("history")
    events = [ev for _, _, ev in Traffic(start=END - 2 * 86400, seed=5, profile=PROFILES["small"]).until(END)]
    found = {"source": write_jsonl(tmp / "events.jsonl", events)}
    for name, extra in (("sparse", []), ("dense", ["--every-step"])):
        found[name] = tmp / f"{name}-blocks"
        found[f"{name}-data"] = tmp / f"{name}-data"
        replay([str(found["source"]), "--blocks", str(found[name]), "--prometheus-data",
                str(found[f"{name}-data"]), *extra], env={})  # fmt: skip
    return found


def points(folder: Path) -> dict[str, dict[float, str]]:
    """Series -> time -> value, from every OpenMetrics file in ``folder``."""
    series: dict[str, dict[float, str]] = defaultdict(dict)
    for path in sorted(folder.glob("*.om")):
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                head, value, at = line.rsplit(" ", 2)
                series[head][float(at)] = value
    return series


def read_as_prometheus(series: dict[float, str], steps: list[float]) -> dict[float, str]:
    """The series' value at each step as an instant query reads it: its latest sample (no
    staleness markers in backfilled data; every series here ends on the same step in both)."""
    times = sorted(series)
    read = {}
    for at in steps:
        i = bisect.bisect_right(times, at)
        if i:
            read[at] = series[times[i - 1]]
    return read


def test_a_sparse_replay_reads_like_one_written_every_step(history: dict[str, Path]) -> None:
    """Every series' value at every step, read as Prometheus reads it (the latest sample), is the
    same from the sparse output as from the one written at every step; a series starts and ends
    on the same step in both."""
    got, full = points(history["sparse"]), points(history["dense"])
    assert set(got) == set(full)
    differ = []
    for series, every in full.items():
        times = sorted(got[series])
        assert set(times) <= set(every)
        steps = sorted(every)
        assert (times[0], times[-1]) == (steps[0], steps[-1]), series
        read = read_as_prometheus(got[series], steps)
        differ += [(series, at, every[at], read[at]) for at in steps if read[at] != every[at]]
    assert differ == []
    written, every_step = sum(map(len, got.values())), sum(map(len, full.values()))
    assert written < every_step / 2, (written, every_step)


def sample_lines(paths: list[Path]) -> list[str]:
    lines = (line for path in paths for line in path.read_text().splitlines())
    return sorted(line for line in lines if not line.startswith("#"))


def test_blocks_are_written_as_the_replay_goes_and_hold_what_one_file_holds(
    history: dict[str, Path], tmp_path: Path
) -> None:
    """Each block's file is final while the replay goes on (a backfill loads it then): the files
    hold exactly the samples of the one file the same replay writes, each in its own block, each
    family's samples together, each series' in time order."""
    single = tmp_path / "one.om"
    replay([str(history["source"]), "--out", str(single)], env={})
    blocks = sorted(history["sparse"].glob("*.om"))
    assert len(blocks) >= 24
    assert sample_lines(blocks) == sample_lines([single])
    for path in blocks:
        start = int(path.stem.removeprefix("cxpulse-"))
        families, last_at, current = [], {}, None
        for line in path.read_text().splitlines():
            if line.startswith("# TYPE"):
                current = line.split()[2]
                assert current not in families, (path.name, current)  # one run per family
                families.append(current)
            elif not line.startswith("#"):
                series, _, at = line.rsplit(" ", 2)
                assert start <= float(at) < start + 7200, (path.name, line)
                assert float(at) > last_at.get(series, -1), (path.name, line)
                last_at[series] = float(at)


def test_prometheus_data_loads_every_block_and_keeps_no_files_of_its_own(
    history: dict[str, Path], tmp_path: Path
) -> None:
    """Without --blocks the files go to a folder of the replay's own, each removed once promtool
    has loaded it: a block in Prometheus' folder for every block file, the folder gone."""
    data = tmp_path / "data"
    output = replay([str(history["source"]), "--prometheus-data", str(data)], env={})
    files = len(list(history["sparse"].glob("*.om")))
    assert len([p for p in data.iterdir() if (p / "meta.json").exists()]) == files
    assert not (tmp_path / "data-openmetrics").exists()
    assert f"in {files} blocks and loaded them into {data}" in output
    inside_a_file = tmp_path / "a-file" / "data"
    inside_a_file.parent.write_text("")
    args = ["replay", "--quiet", str(history["source"]), "--prometheus-data", str(inside_a_file)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert f"cannot use {inside_a_file} as Prometheus' data folder" in result.output


def test_a_block_is_handed_over_once_no_later_sample_can_reach_it(tmp_path: Path) -> None:
    """A series that changes, then stands still for hours, then changes again: the blocks it
    stood still through are handed to ``on_block`` before the writer is closed, and the samples
    are those of the same snapshots written to one file."""
    from metrics.export.openmetrics import OpenMetricsWriter

    handed: list[Path] = []
    streamed = OpenMetricsWriter(tmp_path / "blocks", block_seconds=7200, on_block=handed.append)
    whole = OpenMetricsWriter(tmp_path / "one.om")
    start = 1_780_000_000 // 7200 * 7200
    for writer in (streamed, whole):
        for minute in range(12 * 60):
            sink = writer.sink(start + 60.0 * minute)
            family = sink.family("cxpulse_calls_offered", "Calls offered.", "counter", ["queue", "channel"])
            other = sink.family("cxpulse_unread_thing", "Read by no shipped query.", "gauge", ["queue"])
            sink.group("q", complete=False)
            value = minute // 5 if minute < 60 or minute > 9 * 60 else 12
            sink.sample(family, ("billing", "phone"), value)
            sink.sample(other, ("billing",), minute % 7 if minute > 10 * 60 else 0)
            sink.finish()
        if writer is streamed:
            assert [p.name for p in handed] == [f"cxpulse-{start + 7200 * i}.om" for i in range(4)]
        writer.close()
    assert len(handed) == 6
    assert sample_lines(handed) == sample_lines([tmp_path / "one.om"])


def sample_name(series: str) -> str:
    return series.partition("{")[0]


def by_family(names: set[str]) -> dict[str, set[str]]:
    """Sample names grouped by family: a histogram's buckets, count and sum are one family."""
    families: dict[str, set[str]] = defaultdict(set)
    for name in names:
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        families[base if base + "_bucket" in names else name].add(name)
    return families


def test_a_backfill_writes_the_families_asked_for_and_the_same_values(
    history: dict[str, Path], tmp_path: Path
) -> None:
    everything = points(history["sparse"])
    rules = tmp_path / "rules"
    output = replay([str(history["source"]), "--blocks", str(rules), "--families", "rules"], env={})
    assert "warning" not in output
    got = points(rules)
    # Whole families: each one that has a sample the rules read, a histogram's buckets only
    # where the rules read them.
    wanted = {
        name
        for members in by_family({sample_name(s) for s in everything}).values()
        if members & read_by("rules")
        for name in members
        if not name.endswith("_bucket") or name in read_by("rules")
    }
    assert {"cxpulse_call_handle_seconds_count", "cxpulse_call_wait_seconds_bucket"} <= wanted
    assert "cxpulse_call_handle_seconds_bucket" not in wanted
    assert {sample_name(s) for s in got} == wanted
    assert got == {s: everything[s] for s in got}
    # A set minus a pattern, given as one comma-separated value and a repeat.
    trimmed = tmp_path / "trimmed"
    output = replay([str(history["source"]), "--blocks", str(trimmed), "--families", "all",
                     "--skip-families", "cxpulse_window_*,cxpulse_agents",
                     "--skip-families", "cxpulse_first_response_seconds",
                     "--skip-families", "cxpulse_no_such_*"], env={})  # fmt: skip
    assert "warning: no family matched cxpulse_no_such_*" in output
    got = points(trimmed)
    left_out = {
        s
        for s in everything
        if sample_name(s).startswith(("cxpulse_window_", "cxpulse_first_response_seconds_"))
        or sample_name(s) == "cxpulse_agents"
    }
    assert left_out and set(got) == set(everything) - left_out
    assert got == {s: everything[s] for s in got}


def test_a_set_takes_a_histograms_buckets_only_where_it_reads_them() -> None:
    """The rules read the wait's buckets (its quantiles) but only the handle time's count and
    sum (its mean): a family named or matched by a pattern is whole, as with no filter at all."""
    rules = FamilyFilter(["rules"], [])
    assert rules("cxpulse_call_handle_seconds", "histogram") and rules(
        "cxpulse_call_wait_seconds", "histogram"
    )
    assert rules.buckets("cxpulse_call_wait_seconds")
    assert not rules.buckets("cxpulse_call_handle_seconds")
    assert FamilyFilter(["rules", "cxpulse_call_handle_*"], []).buckets("cxpulse_call_handle_seconds")
    assert FamilyFilter(["all"], []).buckets("cxpulse_call_handle_seconds")
    assert FamilyFilter([], ["cxpulse_window_*"]).buckets("cxpulse_call_handle_seconds")


def test_since_and_until_write_that_stretch_as_the_whole_replay_has_it(
    history: dict[str, Path], tmp_path: Path
) -> None:
    """Events before --since build the state (open tickets, agents logged in), and no sample
    is written before it; the replay stops after --until, its last samples at --until."""
    since, until = END - 30 * 3600, END - 20 * 3600  # Sunday 06:00 to 16:00 UTC
    part = tmp_path / "part"
    replay([str(history["source"]), "--blocks", str(part), "--every-step",
            "--since", "2026-05-31T06:00:00Z", "--until", str(until)], env={})  # fmt: skip
    got, full = points(part), points(history["dense"])
    times = {at for series in got.values() for at in series}
    assert (min(times), max(times)) == (since, until)
    for series, values in got.items():
        assert values == {at: full[series][at] for at in values}, series
    # Every series the whole replay had through that stretch is there.
    assert set(got) == {s for s, values in full.items() if any(since <= at <= until for at in values)}


def evaluable(query: str, records: dict[str, str]) -> str:
    """A shipped query that Prometheus can evaluate over backfilled blocks, where no recording
    rule ran: each recorded series becomes the expression that records it (an ``offset`` moves
    onto its selectors, a range becomes a subquery at the step), dashboard variables match all."""

    def with_offset(expr: str, offset: str) -> str:
        return SELECTOR.sub(lambda m: f"{m[0]} offset {offset}", expr)

    # Dashboard variables match all: their matchers select nothing away.
    query = query.replace('{queue=~"$queue"}', "").replace('{channel=~"$channel"}', "")
    for name, expr in records.items():
        named = rf"(?<![:\w]){re.escape(name)}(?![:\w])"
        query = re.sub(named + r"\s+offset\s+(\w+)", lambda m, e=expr: f"({with_offset(e, m[1])})", query)
        query = re.sub(named + r"\[(\w+)\]", lambda m, e=expr: f"({e})[{m[1]}:1m]", query)
        query = re.sub(named, f"({expr})", query)
    return query.replace('=~"$queue"', '=~".*"').replace('=~"$channel"', '=~".*"')


def answers(prometheus: PrometheusServer, query: str, start: float, end: float) -> dict:
    """Series -> points, each value to 12 significant digits: ``sum`` adds its series in the
    order the server holds them, which two servers loading different blocks need not share, and
    floating-point addition in another order differs in the last bits."""
    reply = prometheus.api("query_range", query=query, start=str(start), end=str(end), step="60")
    assert reply["status"] == "success", (query, reply)
    return {
        frozenset(r["metric"].items()): [(t, f"{float(v):.12g}") for t, v in r["values"]]
        for r in reply["data"]["result"]
    }


def test_every_shipped_rule_and_panel_answers_the_same_over_a_sparse_backfill(
    history: dict[str, Path], tmp_path: Path
) -> None:
    """Both replays loaded into a real Prometheus (as ``--prometheus-data`` loads them): every
    recording rule, alert expression and dashboard query, evaluated at every minute of the two
    days, gives the same series and the same values from the sparse blocks as from the dense."""
    records = recording_rules()
    # A query over days of a recorded series (the SLO windows, the seasonal baselines' weekly
    # means), directly or through another recorded series, is a function of that series at its
    # evaluations, and each recording rule is itself compared here at every minute: such queries
    # are left out rather than recomputed through day-long subqueries.
    subqueries = re.compile(r"\[(\d+)([mhdw]):1m\]")
    queries = [
        inlined
        for reader in shipped_queries().values()
        for q in reader
        for inlined in [evaluable(q, records)]
        if all(int(n) * UNIT[u] <= 3600 for n, u in subqueries.findall(inlined))
    ]
    assert len(queries) > 120, len(queries)
    servers = {}
    try:
        start, end = END - 2 * 86400 + 60, END
        for name in ("sparse", "dense"):
            (tmp_path / name).mkdir()
            server = PrometheusServer(tmp_path / name, [], data=history[f"{name}-data"]).start()
            servers[name] = server
            wait_for(lambda s=server: answers(s, "cxpulse_tickets_created_total", start, end) or None, 30,
                     what="the backfilled blocks to be queryable")  # fmt: skip
        differ, points_compared = [], 0
        for query in queries:
            dense = answers(servers["dense"], query, start, end)
            if answers(servers["sparse"], query, start, end) != dense:
                differ.append(query)
            points_compared += sum(map(len, dense.values()))
        assert differ == []
        assert points_compared > 200_000, points_compared  # most queries have data over most minutes
    finally:
        for server in servers.values():
            server.stop()
