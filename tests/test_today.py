"""Today so far: counted by event time from the start of each queue's own day, zero again when
the next day begins, each source record once."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families

from metrics.aggregates.queue import apply_facts, new_aggregate
from metrics.business_hours import Calendar, day_start
from metrics.export.collector import KpiCollector
from metrics.policy import Policy
from streams.settings import Settings

PARIS = ZoneInfo("Europe/Paris")
KOLKATA = ZoneInfo("Asia/Kolkata")


def at(text: str, zone: ZoneInfo = PARIS) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def policy(**per_queue: dict) -> Policy:
    """Billing in Paris, support in Kolkata (UTC+05:30), sales on UTC with the overrides given."""
    calendars = {
        "billing": Calendar.parse({"zone": "Europe/Paris", "hours": {"mon": "09:00-18:00"}}),
        "support": Calendar.parse({"zone": "Asia/Kolkata", "hours": {"mon": "09:00-18:00"}}),
    }
    return Policy.build(Policy().default, per_queue, calendars)


def call(when: float, wait: float = 12.0) -> list:
    """An answered call's fact: offered, answered within the threshold, its wait observed."""
    counts = {"calls_offered": 1, "calls_answered": 1, "calls_answered_within_sla": 1}
    return [when, counts, {"call_wait_seconds": wait}, {}]


def fold(agg: dict, rules: Policy, offset: int, *facts: list, table: dict | None = None) -> bool:
    start = rules.for_queue(agg["queue"]).day_start
    return apply_facts(agg, list(facts), "calls:0", offset, 60, 120, {} if table is None else table, 0, start)


def test_the_day_starts_at_the_queues_local_midnight_or_its_reset_hour() -> None:
    rules = policy(sales={"day_start_hour": 6.5})
    assert rules.day_start("billing", at("2026-12-07T23:59:59")) == at("2026-12-07T00:00:00")
    assert rules.day_start("billing", at("2026-12-08T00:00:00")) == at("2026-12-08T00:00:00")
    assert rules.day_start("support", at("2026-12-07T00:10:00", KOLKATA)) == at("2026-12-07T00:00", KOLKATA)
    utc = ZoneInfo("UTC")
    assert rules.day_start("sales", at("2026-12-07T06:29:59", utc)) == at("2026-12-06T06:30", utc)
    assert rules.day_start("sales", at("2026-12-07T06:30:00", utc)) == at("2026-12-07T06:30", utc)
    # The day summer time begins is 23 hours long, the day it ends 25, by the local clock.
    assert (
        day_start(PARIS, 0, at("2026-03-30T12:00")) - day_start(PARIS, 0, at("2026-03-29T12:00")) == 23 * 3600
    )
    assert (
        day_start(PARIS, 0, at("2026-10-26T12:00")) - day_start(PARIS, 0, at("2026-10-25T12:00")) == 25 * 3600
    )


def test_a_later_day_starts_from_zero_and_an_ended_days_facts_count_only_in_the_totals() -> None:
    rules = policy()
    agg = new_aggregate("billing", "phone", 0)
    fold(agg, rules, 1, call(at("2026-12-07T23:50:00"), wait=30.0))
    assert agg["today"] == {
        "start": at("2026-12-07T00:00"),
        "counts": {
            "calls_offered": 1,
            "calls_answered": 1,
            "calls_answered_within_sla": 1,
            "call_wait_seconds": 30.0,
        },
    }
    fold(agg, rules, 2, call(at("2026-12-08T00:00:10")), call(at("2026-12-08T00:01:00"), wait=4.0))
    # A call of the day before, reaching the aggregate after the new day began: totals only.
    fold(agg, rules, 3, call(at("2026-12-07T23:59:59")))
    assert agg["today"] == {
        "start": at("2026-12-08T00:00"),
        "counts": {
            "calls_offered": 2,
            "calls_answered": 2,
            "calls_answered_within_sla": 2,
            "call_wait_seconds": 16.0,
        },
    }
    assert agg["totals"]["calls_offered"] == 4
    # A record applied before (redelivered after a crash) changes nothing.
    assert not fold(agg, rules, 2, call(at("2026-12-08T00:00:10")))
    assert agg["today"]["counts"]["calls_offered"] == 2


def test_facts_with_nothing_counted_today_leave_the_aggregate_as_it_was() -> None:
    agg = new_aggregate("billing", "phone", 0)
    fold(agg, policy(), 1, [at("2026-12-07T10:00"), {"agent_busy_seconds": 60}, {}, {}])
    assert "today" not in agg


def scrape(aggregates: list[dict], rules: Policy, now: float) -> dict[tuple[str, str, str], float]:
    text = KpiCollector(lambda: aggregates, 60, rules, clock=lambda: now).text()
    return {
        (s.name, s.labels["queue"], s.labels["channel"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("cxpulse_today_")
    }


def test_the_export_shows_the_days_counts_and_zeros_once_the_next_day_began() -> None:
    rules = policy()
    phone, email = new_aggregate("billing", "phone", 0), new_aggregate("billing", "email", 0)
    fold(phone, rules, 1, call(at("2026-12-07T09:00"), wait=8.0))
    handled = [at("2026-12-07T09:05"), {"calls_handled": 1}, {"call_handle_seconds": 300.0}, {}]
    fold(phone, rules, 2, handled)
    reply = {"ticket_first_responses": 1, "first_response_sla_breaches": 1}
    fold(email, rules, 1, [at("2026-12-07T09:10"), {"tickets_created": 1}, {}, {}])
    fold(email, rules, 2, [at("2026-12-07T11:10"), reply, {"first_response_seconds": 7200.0}, {}])

    got = scrape([phone, email], rules, at("2026-12-07T18:00"))
    b = ("billing", "phone")
    assert {k[0]: v for k, v in got.items() if k[1:] == b} == {
        "cxpulse_today_calls_offered": 1, "cxpulse_today_calls_answered": 1,
        "cxpulse_today_calls_answered_within_sla": 1, "cxpulse_today_calls_abandoned": 0,
        "cxpulse_today_calls_short_abandoned": 0, "cxpulse_today_calls_handled": 1,
        "cxpulse_today_tickets_created": 0, "cxpulse_today_ticket_first_responses": 0,
        "cxpulse_today_first_response_sla_breaches": 0, "cxpulse_today_tickets_resolved": 0,
        "cxpulse_today_answer_wait_seconds": 8.0, "cxpulse_today_handle_seconds": 300.0,
        "cxpulse_today_start_timestamp_seconds": at("2026-12-07T00:00"),
    }  # fmt: skip
    assert got[("cxpulse_today_first_response_sla_breaches", "billing", "email")] == 1
    assert got[("cxpulse_today_tickets_created", "billing", "email")] == 1
    # Past the queue's midnight, before any event of the new day: zeros from the new start.
    after = scrape([phone, email], rules, at("2026-12-08T00:00:30"))
    assert {v for k, v in after.items() if k[0] != "cxpulse_today_start_timestamp_seconds"} == {0}
    assert after[("cxpulse_today_start_timestamp_seconds", *b)] == at("2026-12-08T00:00")


def test_a_reset_hour_off_the_quarter_hours_is_refused_with_the_fix(monkeypatch) -> None:
    monkeypatch.setenv("CXPULSE_QUEUE_SETTINGS", '{"sales": {"day_start_hour": 6.1}}')
    with pytest.raises(ValueError, match=r"day_start_hour 6\.1 is not a quarter-hour of the day"):
        Settings()
    monkeypatch.setenv("CXPULSE_QUEUE_SETTINGS", '{"sales": {"day_start_hour": 6.25}}')
    assert Settings().policy().day_start("sales", 0.0) == 6.25 * 3600 - 86400
