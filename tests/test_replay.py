"""``cxpulse replay``: the same numbers as the live worker, and history Prometheus can load."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from helpers import customer, event, wait_for
from oracle import expected_samples, kpi_samples
from prometheus_server import PrometheusServer
from replay_run import replay, samples_at, write_jsonl
from test_corpus import CORPUS
from test_live_kpis import CATALOGUE_ENV, RULES, catalogue_extras, same, scenario

from streams.simulator.traffic import Traffic


def catalogue_events(now: float) -> list[dict]:
    tickets, calls = scenario(now)
    first, second = catalogue_extras(now)
    return tickets + calls + first + second


def test_replay_of_the_catalogue_streams_is_exact(tmp_path: Path) -> None:
    now = time.time()
    events = catalogue_events(now)
    out = tmp_path / "history.om"
    source = write_jsonl(tmp_path / "events.jsonl", events)
    output = replay([str(source), "--out", str(out), "--at", str(now)], CATALOGUE_ENV)
    got = kpi_samples(samples_at(out))
    want = expected_samples(events, now, RULES)
    diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    assert same(got, want), diff
    # The summary printed at the end shows the same totals, one row per queue and channel.
    table = output.split("KPI totals as of ", 1)[1].split(f"{len(events)} records in")[0].splitlines()[1:]
    assert table[0].split() == ["queue", "channel", "tickets", "escalated", "FRT", "mean", "s", "calls",
                                "abandoned", "open"]  # fmt: skip
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in table[1:] if line.strip()}
    totals = {
        (dict(k[1])["queue"], dict(k[1])["channel"]) for k in want if k[0] == "cxpulse_tickets_created_total"
    }
    assert set(rows) == totals
    for (queue, channel), row in rows.items():
        labels = frozenset({("queue", queue), ("channel", channel)})
        assert float(row[0]) == want[("cxpulse_tickets_created_total", labels)]
        assert float(row[3]) == want[("cxpulse_calls_offered_total", labels)]
        assert float(row[5]) == want[("cxpulse_tickets_open", labels)]


def test_replay_counts_bad_lines_and_duplicates_and_keeps_going(tmp_path: Path) -> None:
    now = time.time()
    tickets, calls = scenario(now)
    good = [orjson.dumps(ev) for ev in tickets + calls]
    # JSON Lines name no key and replay keeps all history: those corpus cases are valid here.
    cases = [
        case
        for case in CORPUS
        if case.value.strip()
        and b"\n" not in case.value.strip()
        and case.reason not in ("key_mismatch", "timestamp_too_old")
        and "call-on-tickets" not in case.name
    ]
    bad = [case.value for case in cases]
    lines: list[bytes] = []
    for i, line in enumerate(good):
        lines += [line, line]  # every event twice
        if i < len(bad):
            lines.append(bad[i])
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out, rejected = tmp_path / "history.om", tmp_path / "rejected.jsonl"
    output = replay([str(path), "--out", str(out), "--at", str(now), "--rejected", str(rejected)],
                    CATALOGUE_ENV)  # fmt: skip
    assert same(kpi_samples(samples_at(out)), expected_samples(tickets + calls, now, RULES))
    parked = [orjson.loads(line) for line in rejected.read_bytes().splitlines()]
    assert Counter(p["reason"] for p in parked) == Counter(case.reason for case in cases[: len(good)])
    assert all(p["reason"] and p["detail"] and isinstance(p["offset"], int) for p in parked)
    assert f"{len(good)} duplicates" in output
    # The worker's pipeline counters, as a worker reading these lines would have kept them:
    # every valid event read (each came twice), the repeats, the rejections by reason.
    final = samples_at(out)
    counted = {(dict(k[1])["topic"], dict(k[1])["type"]): v for k, v in final.items()
               if k[0] == "cxpulse_events_total"}  # fmt: skip
    topic = {"ticket": "tickets", "call": "calls"}
    assert counted == Counter((topic[ev["type"].split(".")[0]], ev["type"]) for ev in 2 * (tickets + calls))
    assert final[("cxpulse_events_duplicate_total", frozenset({("topic", "tickets")}))] == len(tickets)
    assert final[("cxpulse_events_duplicate_total", frozenset({("topic", "calls")}))] == len(calls)
    invalid = Counter()
    for k, v in final.items():
        if k[0] == "cxpulse_events_invalid_total":
            invalid[dict(k[1])["reason"]] += v
    assert invalid == Counter(p["reason"] for p in parked)


def test_snapshots_follow_event_time(tmp_path: Path) -> None:
    """Each snapshot holds exactly the events stamped up to its time."""
    start = 1_790_000_000.0  # a fixed day: the test reads the same whatever the date
    events = [
        event("ticket.created", "A", start + 10, "billing", "email"),
        event("ticket.created", "B", start + 70, "billing", "email"),
        event("ticket.escalated", "B", start + 130, "billing", "email"),
        customer("customer.joined", "K1", start + 200),
    ]
    out = tmp_path / "h.om"
    replay([str(write_jsonl(tmp_path / "e.jsonl", events)), "--out", str(out), "--step", "60"],
           {"CXPULSE_MAX_FUTURE_SECONDS": "3600"})  # fmt: skip
    be = frozenset({"queue": "billing", "channel": "email"}.items())
    created = {
        t: samples_at(out, t)[("cxpulse_tickets_created_total", be)] for t in (start + 60, start + 120)
    }
    assert created == {start + 60: 1, start + 120: 2}
    assert samples_at(out, start + 180)[("cxpulse_tickets_escalated_total", be)] == 1
    assert samples_at(out, start + 200)[("cxpulse_customers_joined_total", frozenset())] == 1
    ticket_events = {
        t: {
            dict(k[1])["type"]: v
            for k, v in samples_at(out, t).items()
            if k[0] == "cxpulse_events_total" and dict(k[1])["topic"] == "tickets"
        }
        for t in (start + 60, start + 120, start + 180)
    }
    assert ticket_events == {
        start + 60: {"ticket.created": 1},
        start + 120: {"ticket.created": 2},
        start + 180: {"ticket.created": 2, "ticket.escalated": 1},
    }


@pytest.mark.kafka
def test_replay_from_kafka_matches_the_live_worker(stack, kafka, tmp_path: Path) -> None:
    """The catalogue streams through a live worker and through a replay of its topics: same series."""
    from helpers import produce
    from test_live_kpis import assert_exact

    stack.extra_env.update(CATALOGUE_ENV)
    now = time.time()
    events = catalogue_events(now)
    tickets, calls = scenario(now)
    first, second = catalogue_extras(now)
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, stack.records(tickets + calls + first))
    assert_exact(worker, tickets + calls + first, RULES)
    produce(kafka.bootstrap, stack.records(second))
    assert_exact(worker, events, RULES)

    out = tmp_path / "history.om"
    env = {**stack.env(6066), **CATALOGUE_ENV}
    at = time.time()
    live = kpi_samples(worker.metrics())
    replay(["--kafka", "--out", str(out), "--at", str(at)], env)
    replayed = kpi_samples(samples_at(out))
    diff = {
        k: (live.get(k), replayed.get(k)) for k in set(live) | set(replayed) if live.get(k) != replayed.get(k)
    }
    assert same(replayed, live), diff


@pytest.fixture(scope="module")
def replayed_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], float]:
    """A day of simulated traffic, replayed with a snapshot every 15 minutes."""
    tmp = tmp_path_factory.mktemp("day")
    end = time.time() // 900 * 900
    events = [ev for _, _, ev in Traffic(start=end - 86400, rate=0.05, seed=11).until(end)]
    out = tmp / "day.om"
    replay([str(write_jsonl(tmp / "day.jsonl", events)), "--out", str(out), "--step", "900"], {})
    return out, events, end


def created_by(events: list[dict], until: float) -> Counter:
    from datetime import datetime

    return Counter(
        (ev["queue"], ev["channel"])
        for ev in events
        if ev["type"] == "ticket.created" and datetime.fromisoformat(ev["occurred_at"]).timestamp() <= until
    )


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian package prometheus)")
def test_a_replayed_day_backfills_into_a_real_prometheus(replayed_day, tmp_path: Path) -> None:
    out, events, end = replayed_day
    data = tmp_path / "data"
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(out), str(data)],
        check=True,
        capture_output=True,
    )
    prometheus = PrometheusServer(tmp_path, targets=[]).start()
    try:
        for hours_back in (20, 9, 1):
            at = end - hours_back * 3600  # a snapshot time
            want = created_by(events, at)

            def answer(at: float = at) -> dict | None:
                reply = prometheus.api("query", query="cxpulse_tickets_created_total", time=str(at))
                result = reply.get("data", {}).get("result", [])
                return {
                    (r["metric"]["queue"], r["metric"]["channel"]): float(r["value"][1]) for r in result
                } or None

            got = wait_for(answer, 30, what="backfilled samples to be queryable")
            assert {k: v for k, v in got.items() if v} == dict(want), hours_back
        # A windowed KPI from the same blocks. The 1h window at a snapshot T is the bucket holding
        # T (events stamped T) and the 59 whole one-minute buckets before it: [T − 59 min, T].
        at = end - 3600
        query = 'sum(cxpulse_window_tickets_created{window="1h"})'
        reply = prometheus.api("query", query=query, time=str(at))
        hour = sum(created_by(events, at).values()) - sum(created_by(events, at - 3540 - 0.001).values())
        assert float(reply["data"]["result"][0]["value"][1]) == hour
    finally:
        prometheus.stop()
