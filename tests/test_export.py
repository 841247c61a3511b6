"""The Prometheus text the worker serves: names, types, labels, and ownership of series."""

from __future__ import annotations

import re

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from metrics.aggregates.queue import apply_facts, new_aggregate
from metrics.definitions import COUNTERS, HISTOGRAMS, RATIOS
from metrics.export.collector import KpiCollector
from metrics.export.worker import WorkerMetrics
from metrics.policy import Policy

NOW = 1_700_003_630.0
NAME_RE = re.compile(r"^cxpulse_[a-z0-9_]+$")


def aggregates():
    """Two queues' aggregates followed by their buckets, as the worker's table holds them."""
    table: dict = {}
    a = new_aggregate("billing", "phone", 0)
    apply_facts(a, [[NOW - 30, {"calls_offered": 1}, {}, {}]], "calls:0", 1, 60, 120, table)
    apply_facts(
        a, [[NOW - 20, {"calls_answered": 1}, {"call_wait_seconds": 10.0}, {}]], "calls:0", 2, 60, 120, table
    )
    b = new_aggregate("sales", "email", 1)
    apply_facts(b, [[NOW - 30, {"tickets_created": 1}, {}, {}]], "tickets:3", 7, 60, 120, table)
    return [a, b, *table.values()]


def render(source):
    metrics = WorkerMetrics()
    metrics.add_kpis(KpiCollector(source, 60, Policy(), clock=lambda: NOW))
    metrics.count_event("tickets", "ticket.created")
    metrics.count_event("tickets", "ticket.created")
    return generate_latest(metrics.registry).decode()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_every_declared_kpi_is_exported_with_the_right_type():
    fams = families(render(aggregates))
    for c in COUNTERS:
        assert fams[c.name].type == "counter"
    for h in HISTOGRAMS:
        assert fams[h.name].type == "histogram"
        assert fams[h.mean_name].type == "gauge"
    for r in RATIOS:
        assert fams[r.name].type == "gauge"
    assert fams["cxpulse_events"].type == "counter"
    for name in fams:
        assert NAME_RE.match(name), name


def test_exact_text_of_a_few_series():
    text = render(aggregates)
    assert 'cxpulse_calls_offered_total{channel="phone",queue="billing"} 1.0' in text
    assert 'cxpulse_call_wait_seconds_bucket{channel="phone",le="10.0",queue="billing"} 1.0' in text
    assert 'cxpulse_call_wait_seconds_bucket{channel="phone",le="5.0",queue="billing"} 0.0' in text
    assert 'cxpulse_call_wait_seconds_sum{channel="phone",queue="billing"} 10.0' in text
    assert 'cxpulse_call_abandonment_ratio{channel="phone",queue="billing",window="5m"} 0.0' in text
    assert 'cxpulse_call_wait_mean_seconds{channel="phone",queue="billing",window="1h"} 10.0' in text
    assert 'cxpulse_window_tickets_created{channel="email",queue="sales",window="15m"} 1.0' in text
    assert 'cxpulse_events_total{topic="tickets",type="ticket.created"} 2.0' in text
    # No ratio where nothing was offered or created.
    assert 'cxpulse_ticket_escalation_ratio{channel="phone"' not in text


def test_only_aggregates_handed_over_are_exported():
    owned = [a for a in aggregates() if a["partition"] == 1]
    text = render(lambda: owned)
    assert 'queue="sales"' in text
    assert 'queue="billing"' not in text


def test_label_names_never_carry_ids():
    fams = families(render(aggregates))
    labels = {k for f in fams.values() for s in f.samples for k in s.labels}
    assert labels <= {
        "queue",
        "channel",
        "window",
        "le",
        "topic",
        "type",
        "reason",
        "period",
        "label",
        "status",
        "state",
    }


def test_label_values_with_quotes_backslashes_and_unicode_come_back_exactly():
    """What the contract lets through (no control characters, 100 at most) survives the exposition."""
    queue = 'VIP "gold" \\ billing — Zürich ✓'
    channel = "c" * 100

    def source():
        a = new_aggregate(queue, channel, 0)
        apply_facts(a, [[NOW - 30, {"tickets_created": 1}, {}, {}]], "tickets:0", 1, 60, 120, {})
        return [a]

    fams = families(render(source))
    labels = [s.labels for s in fams["cxpulse_tickets_created"].samples if s.name.endswith("_total")]
    assert labels == [{"queue": queue, "channel": channel}]


def test_the_page_is_byte_for_byte_what_prometheus_client_writes() -> None:
    """The worker writes /metrics directly (a scrape's pause on its event loop): same bytes."""
    from metrics.aggregates.queue import new_customer_base
    from metrics.business_hours import Calendar
    from metrics.definitions import WINDOWS

    table: dict = {}
    odd = new_aggregate('VIP "gold" \\ billing — Zürich ✓', "line\\n", 0)
    facts = [
        [NOW - 30, {c.key: 2 for c in COUNTERS}, {h.key: 12.5 for h in HISTOGRAMS},
         {"agent": "a1", "levels": [["calls_waiting", NOW - 30, 1], ["agents:busy", NOW - 30, 1]]}],
        [NOW - 3000, {"calls_offered": 1_234_567}, {"call_handle_seconds": 1e7}, {}],
    ]  # fmt: skip
    apply_facts(odd, facts, "calls:0", 1, 60, 10**6, table)
    base = new_customer_base(2)
    apply_facts(base, [[NOW - 10, {"customers_joined": 3}, {}, {}]], "customers:0", 1, 60, 120, table)
    labels = {"kind": "labels", "folded": {"queue": 4}}
    values = [*aggregates(), odd, base, labels, *table.values()]
    calendar = Calendar.parse({"zone": "UTC", "hours": {"mon": "09:00-17:00"}})
    policy = Policy.build(Policy().default, {}, {"*": calendar}, customer_base=10)
    for options in ({}, {"windows": {"15m": WINDOWS["15m"]}, "window_counts": False}):
        metrics = WorkerMetrics()
        metrics.add_kpis(KpiCollector(lambda: values, 60, policy, lambda: NOW, **options))
        metrics.count_event("tickets", "ticket.created")
        metrics.invalid.labels("tickets", 'we"ird\\\n').inc()
        metrics.delay.observe(0.3)
        assert metrics.page() == generate_latest(metrics.registry)
    trimmed = families(metrics.page().decode())
    assert "cxpulse_window_tickets_created" not in trimmed
    assert {s.labels["window"] for s in trimmed["cxpulse_service_level_ratio"].samples} == {"15m"}


def test_each_queue_exports_its_targets_and_whether_it_is_open() -> None:
    """Targets and limits come from the policy, per queue (configured queues too, even before
    their first event); opening from the queue's calendar, always open without one."""
    from metrics.business_hours import Calendar

    monday_10_utc = 1_780_308_000.0  # Monday 1 June 2026, 10:00 UTC = 11:00 in London
    london = {"zone": "Europe/London", "hours": {"mon": "09:00-17:00"}}
    policy = Policy.build(
        Policy().default,
        {
            "billing": {"service_level_target": 0.9, "abandonment_limit": 0.05},
            "returns": {"open_grace_seconds": 0},
        },
        {
            "billing": Calendar.parse(london),
            "returns": Calendar.parse({**london, "hours": {"tue": "09:00-17:00"}}),
        },
    )
    samples = {
        (s.name, s.labels["queue"]): s.value
        for family in text_string_to_metric_families(
            KpiCollector(aggregates, 60, policy, clock=lambda: monday_10_utc).text()
        )
        for s in family.samples
        if "queue" in s.labels and set(s.labels) == {"queue"}
    }
    assert samples == {
        **{(f"cxpulse_{n}", q): v for q in ("billing", "sales", "returns") for n, v in (
            ("service_level_target_ratio", 0.8), ("service_level_threshold_seconds", 20.0),
            ("short_abandon_threshold_seconds", 5.0), ("first_response_target_seconds", 3600.0),
            ("abandonment_limit_ratio", 0.1), ("escalation_limit_ratio", 0.15),
            ("first_response_breach_limit_ratio", 0.2), ("first_response_objective_ratio", 0.9),
            ("queue_open_share_ratio", 1.0), ("queue_open_grace_seconds", 900.0))},
        ("cxpulse_service_level_target_ratio", "billing"): 0.9,
        ("cxpulse_abandonment_limit_ratio", "billing"): 0.05,
        ("cxpulse_queue_open", "billing"): 1.0,  # Monday 11:00 in London
        ("cxpulse_queue_open", "returns"): 0.0,  # open on Tuesdays only
        ("cxpulse_queue_open", "sales"): 1.0,  # no calendar: always open
        ("cxpulse_queue_open_share_ratio", "billing"): 8 / 168,  # eight hours a week
        ("cxpulse_queue_open_share_ratio", "returns"): 8 / 168,
        ("cxpulse_queue_open_grace_seconds", "returns"): 0.0,
        ("cxpulse_queue_open_since_timestamp_seconds", "billing"): 1_780_300_800.0,  # 09:00 in London
        ("cxpulse_queue_open_since_timestamp_seconds", "returns"): 0.0,  # closed
        ("cxpulse_queue_open_since_timestamp_seconds", "sales"): 0.0,  # open since ever
    }  # fmt: skip
