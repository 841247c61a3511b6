"""The forecast a worker exports: arrival history kept per quarter-hour, once per record, for the
weeks a forecast needs; contacts and agents per interval computed independently from the events."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from prometheus_client.parser import text_string_to_metric_families
from replay_run import samples_at

from metrics.aggregates.history import history_counts
from metrics.aggregates.queue import apply_facts, new_aggregate
from metrics.business_hours import Calendar
from metrics.erlang_a import agents_to_schedule, estimate_patience, required_agents_a
from metrics.export.collector import KpiCollector
from metrics.export.family_filter import FamilyFilter
from metrics.export.forecast_series import Outlook
from metrics.export.openmetrics import OpenMetricsWriter
from metrics.model import history_key
from metrics.policy import ForecastPolicy, Policy, QueuePolicy
from metrics.staffing import offered_erlangs, required_agents
from streams.replay.driver import Replay, record_from_line, run
from streams.settings import Settings
from streams.simulator.centre_profiles import PROFILES
from streams.simulator.traffic import Traffic

PARIS = ZoneInfo("Europe/Paris")
B, GRACE = 60, 120
# Tuesday 3 November 2026, 10:05 in Paris: the forecast's "now".
NOW = datetime(2026, 11, 3, 10, 5, tzinfo=PARIS).timestamp()


def f(at: float, counts: dict | None = None, obs: dict | None = None) -> list:
    return [at, counts or {}, obs or {}, {}]


def paris(days_before: int, hour: int, minute: int) -> float:
    day = datetime(2026, 11, 3, tzinfo=PARIS) - timedelta(days=days_before)
    return day.replace(hour=hour, minute=minute).timestamp()


class Queue:
    def __init__(self, history_days: int) -> None:
        self.agg = new_aggregate("billing", "phone", 0)
        self.table: dict[str, dict] = {}
        self.offset = 0
        self.history_days = history_days

    def add(self, *facts: list, offset: int | None = None) -> bool:
        if offset is None:
            self.offset += 1
            offset = self.offset
        days = self.history_days
        applied = apply_facts(self.agg, list(facts), "calls:0", offset, B, GRACE, self.table, days)
        self.table["billing|phone"] = self.agg
        return applied


def test_arrivals_are_kept_per_quarter_hour_once_per_record_and_for_the_days_asked():
    q = Queue(history_days=2)
    day0 = paris(2, 9, 0) // 86400 * 86400  # the UTC day of the morning
    q.add(f(paris(2, 9, 1), {"calls_offered": 1}), f(paris(2, 9, 14), {"calls_offered": 1}))
    q.add(f(paris(2, 9, 16), {"tickets_created": 2, "calls_answered": 1}))
    assert not q.add(f(paris(2, 9, 16), {"tickets_created": 2}), offset=2)  # replayed: not again
    record = q.table[history_key("billing|phone", int(day0))]
    quarter = int(paris(2, 9, 0))
    assert record["slots"] == {str(quarter): 2, str(quarter + 900): 2}
    q.add(f(paris(1, 9, 0), {"calls_offered": 1}))
    q.add(f(paris(0, 9, 0), {"calls_offered": 1}))  # a third day: the first one goes
    days = sorted(v["day"] for v in q.table.values() if v.get("kind") == "arrivals")
    assert days == [int(day0) + 86400, int(day0) + 2 * 86400]
    assert q.agg["history_days"] == days
    q.add(f(paris(2, 9, 30), {"calls_offered": 1}))  # older than the history kept: not kept
    assert len([v for v in q.table.values() if v.get("kind") == "arrivals"]) == 2
    assert q.agg["totals"]["calls_offered"] == 5  # the totals count it all the same


def scrape(table: dict, policy: Policy, now: float) -> dict[tuple, float]:
    collector = KpiCollector(lambda: list(table.values()), B, policy, clock=lambda: now)
    out = {}
    for family in text_string_to_metric_families(collector.text()):
        if family.name.startswith("cxpulse_forecast"):
            for s in family.samples:
                out[(s.name, s.labels["interval"])] = s.value
    return out


def test_the_exported_forecast_is_the_mean_of_the_same_interval_and_erlang_a_staffs_it():
    # Two weeks of calls: on Tuesdays 10:00-10:30, 30 calls a week ago and 40 two weeks ago;
    # 10:30-11:00, 20 and 10. Each answered after 10 s, handled in 200 s (300 s after 10:30);
    # one in ten abandons after 60 s.
    q = Queue(history_days=15)
    for weeks_ago, first, second in ((2, 40, 10), (1, 30, 20)):
        for half, n in ((0, first), (30, second)):
            for i in range(n):
                at = paris(7 * weeks_ago, 10, half) + i * 1800 / n
                q.add(f(at, {"calls_offered": 1}))
                if i % 10 == 0:
                    q.add(f(at + 60, {"calls_abandoned": 1}, {"call_abandon_wait_seconds": 60.0}))
                else:
                    q.add(f(at + 10, {"calls_answered": 1}, {"call_wait_seconds": 10.0}))
                    handled = 200.0 if half == 0 else 300.0  # longer calls after 10:30
                    q.add(f(at + 20, {"calls_handled": 1}, {"call_handle_seconds": handled}))
    days = ("mon", "tue", "wed", "thu", "fri")
    calendar = Calendar.parse({"zone": "Europe/Paris", "hours": {d: "08:00-18:00" for d in days}})
    rules = QueuePolicy(shrinkage=0.25, calendar=calendar)  # local time: summer time ended between
    policy = Policy(default=rules, forecast=ForecastPolicy(interval_seconds=1800, weeks=2, intervals=4))
    got = scrape(q.table, policy, NOW)

    assert got[("cxpulse_forecast_contacts", "+0m")] == (40 + 30) / 2
    assert got[("cxpulse_forecast_contacts", "+30m")] == (10 + 20) / 2
    assert got[("cxpulse_forecast_contacts", "+60m")] == 0.0  # history, nothing arrived
    abandoned = sum(1 for n in (40, 10, 30, 20) for i in range(n) if i % 10 == 0)
    answered = 100 - abandoned
    patience = estimate_patience(abandoned, answered * 10.0 + abandoned * 60.0)
    assert patience is not None and math.isclose(patience, (answered * 10 + abandoned * 60) / abandoned)
    needed = required_agents_a(35 / 1800, 200.0, patience, 0.8, 20.0, 0.85).agents
    assert got[("cxpulse_forecast_handle_seconds", "+0m")] == 200.0
    assert got[("cxpulse_forecast_handle_seconds", "+30m")] == 300.0  # each interval its own
    assert got[("cxpulse_forecast_required_agents", "+0m")] == needed
    later = required_agents_a(15 / 1800, 300.0, patience, 0.8, 20.0, 0.85).agents
    assert got[("cxpulse_forecast_required_agents", "+30m")] == later
    assert got[("cxpulse_forecast_scheduled_agents", "+0m")] == agents_to_schedule(needed, 0.25)
    assert got[("cxpulse_forecast_required_agents", "+60m")] == 0
    assert ("cxpulse_forecast_staffing_gap_agents", "+0m") not in got  # no agent state seen


def test_history_counts_sum_quarter_hours_into_local_intervals():
    records = [{"slots": {str(int(paris(0, 10, 0))): 3, str(int(paris(0, 10, 15))): 4}}]
    from metrics.forecast import Forecaster

    thirty = Forecaster(PARIS, 1800)
    assert history_counts(records, thirty.interval_start) == {paris(0, 10, 0): 7.0}
    quarter = Forecaster(PARIS, 900)
    assert history_counts(records, quarter.interval_start) == {paris(0, 10, 0): 3.0, paris(0, 10, 15): 4.0}


def test_cxpulse_plan_from_stored_events_prints_the_forecast_and_the_agents(tmp_path, monkeypatch):
    import orjson
    from click.testing import CliRunner

    from streams.cli.main import main

    # Tuesdays 10:00-10:30 (Paris), a week and two weeks ago: 24 and 36 calls, answered after
    # 5 s and handled in 240 s; nobody hangs up, so the plan uses Erlang C.
    lines, n = [], 0
    for weeks_ago, calls in ((2, 36), (1, 24)):
        for i in range(calls):
            at = paris(7 * weeks_ago, 10, 0) + i * 1800 / calls
            for kind, when in (("call.queued", at), ("call.answered", at + 5), ("call.ended", at + 245)):
                n += 1
                stamp = datetime.fromtimestamp(when, PARIS).isoformat()
                lines.append(
                    {"event_id": f"e{n}", "type": kind, "call_id": f"C{weeks_ago}-{i}", "queue": "billing",
                     "channel": "phone", "occurred_at": stamp, "agent_id": "a1"}
                )  # fmt: skip
    lines.sort(key=lambda doc: doc["occurred_at"])
    history = tmp_path / "events.jsonl"
    history.write_bytes(b"\n".join(orjson.dumps(doc) for doc in lines) + b"\n")
    calendar = {"*": {"zone": "Europe/Paris", "hours": {"tue": "08:00-18:00"}}}
    monkeypatch.setenv("CXPULSE_BUSINESS_HOURS", orjson.dumps(calendar).decode())
    monkeypatch.setenv("CXPULSE_FORECAST_INTERVALS", "2")
    at = datetime.fromtimestamp(NOW, PARIS).isoformat()
    result = CliRunner().invoke(main, ["plan", "--history", str(history), "--at", at])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "billing" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    needed = required_agents(offered_erlangs(30, 1800, 240.0), 240.0, 0.8, 20.0, 0.85).agents
    assert cells[:4] == [
        "billing",
        "phone",
        datetime.fromtimestamp(paris(0, 10, 0)).strftime("%H:%M"),
        "30.0",
    ]
    assert cells[4:7] == ["240 s", str(needed), str(agents_to_schedule(needed, 0.3))]


def test_agents_for_any_calls_are_those_a_solve_of_their_own_gives():
    """Staffing keeps what it solved per patience and targets, and answers calls and handle times
    whose bounds (fewer and shorter calls solved before, more and longer ones) meet without a
    solve: every answer, in any order asked, is the one Erlang A (or C, before anyone hung up)
    gives for those calls and that handle time alone."""
    rules = QueuePolicy(shrinkage=0.3)
    outlook = Outlook(ForecastPolicy(interval_seconds=1800))
    # 0 to 150 calls of four handle times (rounded to the second), scattered.
    rng = random.Random(7)
    asked = [(round(rng.uniform(0, 150), 1), rng.choice((240.4, 251.2, 266.0, 300.6))) for _ in range(400)]
    for patience in (120.0, None):
        for calls, handle in asked:
            needed, scheduled = outlook._staff(calls, handle, patience, rules)
            seconds = round(handle)
            if calls == 0:
                alone = 0
            elif patience is None:
                offered = offered_erlangs(calls, 1800, seconds)
                alone = required_agents(offered, seconds, 0.8, 20.0, 0.85).agents
            else:
                alone = required_agents_a(calls / 1800, seconds, patience, 0.8, 20.0, 0.85).agents
            assert (needed, scheduled) == (alone, agents_to_schedule(alone, 0.3)), (calls, handle)
    # Many answers came from what was solved before.
    assert outlook._solves < 1.5 * len(set(asked)), outlook._solves  # of twice as many asked


def test_a_replays_snapshots_hold_the_forecast_a_scrape_at_that_moment_shows(tmp_path: Path) -> None:
    """A replay hands the writer a queue's forecast only when it moved (at an interval's end, or
    when the staffed agents change, or a late arrival changes today's so far): read back as
    Prometheus reads it, every snapshot holds what a scrape of the same state at that moment
    shows, across interval ends."""
    end = 1_780_315_200.0 + 5 * 86400  # a Saturday noon, after eight days of history
    events = [ev for _, _, ev in Traffic(start=end - 8 * 86400, seed=3, profile=PROFILES["small"]).until(end)]
    # Tickets that reach the replay 40 minutes after they were created, in the next interval:
    # the forecast made at that interval's start did not count them, the one after them does.
    for n, first in enumerate(range(len(events) - 4000, len(events) - 800, 400)):
        created = next(ev for ev in events[first:] if ev["type"] == "ticket.created")
        came = datetime.fromisoformat(created["occurred_at"]) + timedelta(minutes=40)
        late = {**created, "event_id": f"late-{n}", "ticket_id": f"T-late-{n}"}
        at = next(i for i, ev in enumerate(events) if datetime.fromisoformat(ev["occurred_at"]) > came)
        events.insert(at, late)
    lines = [orjson.dumps(ev) for ev in events]
    engine = Replay(Settings(forecast_weeks=1, forecast_intervals=3))
    out = tmp_path / "replay.om"
    writer = OpenMetricsWriter(out, step=300, keep=FamilyFilter(["cxpulse_forecast_*"], []))
    scraped: dict[float, dict] = {}

    def snapshot(at: float) -> None:
        engine.snapshot(writer.sink, at)
        if at >= end - 2 * 3600:
            scraped[at] = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(engine.text(at))
                if family.name.startswith("cxpulse_forecast")
                for s in family.samples
            }

    records = (record_from_line(line, "h.jsonl:0", i) for i, line in enumerate(lines, start=1))
    run(engine, records, 300, on_snapshot=snapshot)
    writer.close()
    assert len(scraped) == 24 and sum(map(len, scraped.values())) > 300
    for at, expected in scraped.items():
        written = {
            (name, tuple(sorted(labels))): value
            for (name, labels), value in samples_at(out, at).items()
            if name.startswith("cxpulse_forecast")
        }
        assert written == expected, at
