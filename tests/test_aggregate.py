"""Event-time buckets, lateness, expiry and replay protection of the queue aggregates."""

from __future__ import annotations

from metrics.aggregate import (
    active_customers,
    apply_facts,
    customer_periods,
    new_aggregate,
    new_customer_base,
    oldest_open_age,
    window_sums,
    window_values,
)
from metrics.definitions import CALL_WAIT_BUCKETS

B, GRACE = 60, 120
T0 = 1_700_000_080.0  # 40 s into a bucket


def agg_with(*facts_by_offset):
    agg = new_aggregate("billing", "phone", 2)
    for offset, facts in facts_by_offset:
        apply_facts(agg, facts, "calls:0", offset, B, GRACE)
    return agg


def test_totals_histogram_and_buckets():
    agg = agg_with(
        (1, [[T0, {"calls_offered": 1}, {}, {}]]),
        (2, [[T0 + 12, {"calls_answered": 1}, {"call_wait_seconds": 12.0}, {}]]),
        (3, [[T0 + 100, {"calls_offered": 1}, {}, {}]]),
    )
    assert agg["totals"] == {"calls_offered": 2, "calls_answered": 1}
    row = agg["hist"]["call_wait_seconds"]
    assert row[CALL_WAIT_BUCKETS.index(15.0)] == 1 and sum(row[:-1]) == 1 and row[-1] == 12.0
    start = int(T0 // B * B)
    assert agg["buckets"] == {
        str(start): {
            "calls_offered": 1,
            "calls_answered": 1,
            "call_wait_seconds:sum": 12.0,
            "call_wait_seconds:count": 1,
        },
        str(start + 120): {"calls_offered": 1},
    }


def test_replayed_offsets_are_dropped():
    agg = agg_with((5, [[T0, {"calls_offered": 1}, {}, {}]]))
    assert not apply_facts(agg, [[T0, {"calls_offered": 1}, {}, {}]], "calls:0", 5, B, GRACE)
    assert not apply_facts(agg, [[T0, {"calls_offered": 1}, {}, {}]], "calls:0", 4, B, GRACE)
    assert apply_facts(agg, [[T0, {"calls_offered": 1}, {}, {}]], "calls:1", 4, B, GRACE)
    assert agg["totals"] == {"calls_offered": 2}


def test_late_fact_counts_in_totals_not_in_windows():
    agg = agg_with((1, [[T0 + 600, {"calls_offered": 1}, {}, {}]]))
    # Bucket of T0 ended at T0-40+60; the watermark T0+600 is past that plus the 120 s grace.
    apply_facts(agg, [[T0, {"calls_abandoned": 1}, {}, {}]], "calls:0", 2, B, GRACE)
    assert agg["totals"] == {"calls_offered": 1, "calls_abandoned": 1}
    assert agg["late"] == 1
    assert sum(f.get("calls_abandoned", 0) for f in agg["buckets"].values()) == 0
    # Within the grace, an out-of-order fact still lands in its own bucket.
    apply_facts(agg, [[T0 + 500, {"calls_abandoned": 1}, {}, {}]], "calls:0", 3, B, GRACE)
    assert agg["late"] == 1
    assert agg["buckets"][str(int((T0 + 500) // B * B))] == {"calls_abandoned": 1}


def test_buckets_older_than_the_longest_window_expire():
    agg = agg_with(
        (1, [[T0, {"calls_offered": 1}, {}, {}]]), (2, [[T0 + 4000, {"calls_offered": 1}, {}, {}]])
    )
    assert list(agg["buckets"]) == [str(int((T0 + 4000) // B * B))]
    assert agg["totals"] == {"calls_offered": 2}


def test_windows_cover_the_current_bucket_and_whole_buckets_before():
    now = T0 + 3 * 3600
    facts = [
        (1, [[now - 10, {"calls_offered": 1}, {}, {}]]),
        (2, [[now - 250, {"calls_offered": 1, "calls_abandoned": 1}, {}, {}]]),
        (3, [[now - 600, {"calls_offered": 1}, {}, {}]]),
        (4, [[now - 3000, {"calls_offered": 1, "calls_answered": 1}, {"call_wait_seconds": 30.0}, {}]]),
    ]
    agg = new_aggregate("q", "c", 0)
    for offset, f in facts:
        apply_facts(agg, f, "calls:0", offset, B, 86400)
    five = window_values(window_sums(agg, now, 300, B), 300, 30.0)
    assert five["calls_offered"] == 2 and five["call_abandonment_ratio"] == 0.5
    assert "call_wait_seconds:mean" not in five
    hour = window_values(window_sums(agg, now, 3600, B), 3600, 30.0)
    assert hour["calls_offered"] == 4 and hour["call_abandonment_ratio"] == 0.25
    assert hour["call_wait_seconds:mean"] == 30.0
    assert "ticket_escalation_ratio" not in hour  # nothing to divide by


def test_backlog_oldest_open_and_active_agents():
    agg = new_aggregate("billing", "email", 0)
    apply_facts(agg, [[T0, {"tickets_created": 1}, {}, {"open": [T0, 1]}]], "tickets:0", 1, B, GRACE)
    apply_facts(
        agg, [[T0 + 90, {"tickets_created": 1}, {}, {"open": [T0 + 90, 1]}]], "tickets:0", 2, B, GRACE
    )
    resolved = [
        [T0 + 100, {"tickets_resolved": 1}, {"resolution_seconds": 100.0}, {"open": [T0, -1], "agent": "a1"}]
    ]
    apply_facts(agg, resolved, "tickets:0", 3, B, GRACE)
    apply_facts(agg, [[T0 + 110, {}, {}, {"agent": "a2"}]], "tickets:0", 4, B, GRACE)
    apply_facts(agg, [[T0 + 120, {}, {}, {"agent": "a1"}]], "tickets:0", 5, B, GRACE)
    assert agg["totals"]["tickets_open"] == 1
    assert oldest_open_age(agg, T0 + 600) == T0 + 600 - (T0 + 90) // B * B
    values = window_values(window_sums(agg, T0 + 200, 3600, B), 3600, 40.0)
    assert values["active_agents"] == 2
    assert values["resolutions_per_agent_hour"] == 0.5  # 1 resolution / (2 agents x 1 h)
    assert values["cost_per_conversation"] == 80.0  # 2 agent-hours x 40 / 1


def test_first_response_p90_interpolates_inside_its_bucket():
    agg = new_aggregate("billing", "chat", 0)
    for i, seconds in enumerate([10.0, 20.0, 40.0, 50.0, 70.0, 80.0, 90.0, 100.0, 110.0, 200.0]):
        fact = [T0, {"ticket_first_responses": 1}, {"first_response_seconds": seconds}, {}]
        apply_facts(agg, [fact], "tickets:0", i, B, GRACE)
    values = window_values(window_sums(agg, T0, 300, B), 300, 30.0)
    # rank 9 of 10: 4 values up to 60 s, then 5 in (60, 120]: 60 + 60 * (9 - 4) / 5
    assert values["first_response_seconds:q0.9"] == 120.0


def test_customer_base_retention_and_churn():
    day = 1_700_006_400.0  # 2023-11-15 00:00 UTC
    agg = new_customer_base(0)
    facts = [
        [day - 3600, {"customers_joined": 1}, {}, {}],  # yesterday
        [day + 60, {"customers_joined": 1}, {}, {}],
        [day + 120, {"customers_churned": 1}, {}, {}],
    ]
    for i, f in enumerate(facts):
        apply_facts(agg, [f], "customers:0", i, B, 86400 * 40)
    periods = customer_periods(agg, day + 7200, base=10)
    # today: CS = 10 + 1 = 11, CN = 1, CE = 11; CRR = (11 - 1) / 11, churn = 1 / 11
    assert periods["day"] == (10 / 11, 1 / 11)
    assert periods["previous_day"] == (1.0, 0.0)  # CS 10, one join, no churn
    assert active_customers(agg, 10) == 11
