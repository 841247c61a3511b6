"""The live worker on a real Apache Kafka: exact KPI values for hand-made event lists."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
from helpers import agent, customer, event, missed, produce, survey, wait_for
from oracle import Rules, agents_differ, expected_samples, kpi_samples, today_start
from test_corpus import CORPUS

pytestmark = pytest.mark.kafka

NOW = time.time()


def scenario(now: float) -> tuple[list[dict], list[dict]]:
    """Tickets and calls over the last three hours, across queues and channels."""
    t, c = [], []
    # Customer ticket, bot reply first (ignored), agent replies 5 min after creation, escalated twice,
    # resolved after two agent replies (so not a first-contact resolution).
    t += [
        event("ticket.created", "T1", now - 700, "billing", "email", customer_id="K1"),
        event("ticket.replied", "T1", now - 690, "billing", "email", author="bot"),
        event("ticket.replied", "T1", now - 650, "billing", "email", author="customer"),
        event("ticket.replied", "T1", now - 400, "billing", "email", author="agent", agent_id="a1"),
        event("ticket.replied", "T1", now - 300, "billing", "email", author="agent", agent_id="a1"),
        event("ticket.escalated", "T1", now - 200, "billing", "email", agent_id="a1"),
        event("ticket.escalated", "T1", now - 100, "billing", "email"),
        event("ticket.resolved", "T1", now - 50, "billing", "email", agent_id="a1"),
    ]
    # Fast chat: answered in 40 s, solved at first contact, reopened, answered again (voids the
    # first-contact resolution) and solved again: a second open period of 100 s.
    t += [
        event("ticket.created", "T2", now - 1130, "billing", "chat", customer_id="K2"),
        event("ticket.replied", "T2", now - 1090, "billing", "chat", author="agent", agent_id="a2"),
        event("ticket.resolved", "T2", now - 1000, "billing", "chat", agent_id="a2"),
        event("ticket.reopened", "T2", now - 200, "billing", "chat"),
        event("ticket.replied", "T2", now - 150, "billing", "chat", author="agent", agent_id="a3"),
        event("ticket.resolved", "T2", now - 100, "billing", "chat", agent_id="a3"),
    ]
    # Old ticket: created 2.5 h ago, first answer 40 min ago (late against the 1 h target), escalated.
    t += [
        event("ticket.created", "T3", now - 9000, "sales", "email"),
        event("ticket.replied", "T3", now - 2400, "sales", "email", author="agent"),
        event("ticket.escalated", "T3", now - 2300, "sales", "email"),
    ]
    # Unanswered tickets, one opened by an agent, one a complaint; both still open.
    t += [
        event("ticket.created", "T4", now - 60, "billing", "email", tags=["vip", "complaint"]),
        event("ticket.created", "T5", now - 1500, "sales", "email", author="agent"),
    ]
    # Solved by the bot alone (a first-contact resolution), reopened without a further agent reply.
    t += [
        event("ticket.created", "T7", now - 500, "sales", "chat"),
        event("ticket.replied", "T7", now - 490, "sales", "chat", author="bot"),
        event("ticket.resolved", "T7", now - 480, "sales", "chat"),
        event("ticket.reopened", "T7", now - 120, "sales", "chat"),
    ]
    # Priorities (support, email; urgent's target 900 s, high's 600 s): P1 raised from low to urgent
    # before its reply (2 000 s: late for urgent); P2 "HIGH " is high (100 s, in time); P3's "vip"
    # is no configured priority (other); P4's reply arrived before its creation, judged as urgent
    # (700 s, in time); P5 lowered after its reply (judged as urgent: 1 000 s, late).
    t += [
        event("ticket.created", "P1", now - 3000, "support", "email", priority="low"),
        event("ticket.priority_changed", "P1", now - 2900, "support", "email", priority="urgent"),
        event("ticket.replied", "P1", now - 1000, "support", "email", author="agent", agent_id="a8"),
        event("ticket.created", "P2", now - 2000, "support", "email", priority="HIGH "),
        event("ticket.replied", "P2", now - 1900, "support", "email", author="agent", agent_id="a8"),
        event("ticket.created", "P3", now - 500, "support", "email", priority="vip"),
        event("ticket.replied", "P3", now - 100, "support", "email", author="agent", agent_id="a8"),
        event("ticket.replied", "P4", now - 800, "support", "email", author="agent", agent_id="a8"),
        event("ticket.created", "P4", now - 1500, "support", "email", priority="urgent"),
        event("ticket.created", "P5", now - 2500, "support", "email", priority="urgent"),
        event("ticket.replied", "P5", now - 1500, "support", "email", author="agent", agent_id="a8"),
        event("ticket.priority_changed", "P5", now - 1400, "support", "email", priority="low"),
    ]
    # A customer's contact nine days ago, and events for a ticket whose creation never arrived.
    t += [
        event("ticket.created", "T8", now - 9 * 86400, "sales", "email", customer_id="K3"),
        event("ticket.escalated", "T9", now - 400, "sales", "email"),
        event("ticket.replied", "T9", now - 390, "sales", "email", author="agent", agent_id="a4"),
        event("ticket.resolved", "T9", now - 380, "sales", "email"),
    ]
    # Calls: answered after 12 s, after 95 s, abandoned after 30 s, abandoned long ago, a short abandon.
    c += [
        event("call.queued", "C1", now - 150, "billing", "phone", customer_id="K4"),
        event("call.answered", "C1", now - 138, "billing", "phone", agent_id="a2"),
        event("call.ended", "C1", now - 20, "billing", "phone", agent_id="a2"),
        event("call.queued", "C2", now - 800, "billing", "phone"),
        event("call.answered", "C2", now - 705, "billing", "phone", agent_id="a5"),
        event("call.ended", "C2", now - 405, "billing", "phone", agent_id="a5"),
        event("call.queued", "C3", now - 200, "billing", "phone"),
        event("call.abandoned", "C3", now - 170, "billing", "phone"),
        event("call.queued", "C4", now - 5000, "sales", "phone"),
        event("call.abandoned", "C4", now - 4990, "sales", "phone"),
        # An answer after an abandon is not an answer.
        event("call.answered", "C4", now - 4980, "sales", "phone"),
        event("call.queued", "C5", now - 90, "billing", "phone"),
        event("call.abandoned", "C5", now - 87, "billing", "phone"),
        # A caller still waiting.
        event("call.queued", "C6", now - 45, "billing", "phone"),
    ]
    # Holds, transfers and a callback, in a queue of their own: C8 held twice (60 s, then until its
    # end: 100 s) and transferred after a consult; C9 took a callback after a minute, then hung up
    # on the confirmation (no abandon) and was called back; C10 sent on blind.
    c += [
        event("call.queued", "C8", now - 600, "support", "phone"),
        event("call.answered", "C8", now - 590, "support", "phone", agent_id="a6"),
        event("call.held", "C8", now - 500, "support", "phone", agent_id="a6"),
        event("call.resumed", "C8", now - 440, "support", "phone", agent_id="a6"),
        event("call.resumed", "C8", now - 430, "support", "phone", agent_id="a6"),  # no hold running
        event("call.held", "C8", now - 400, "support", "phone", agent_id="a6"),
        event("call.held", "C8", now - 390, "support", "phone", agent_id="a6"),  # already on hold
        event("call.transferred", "C8", now - 320, "support", "phone", agent_id="a6", transfer="consult"),
        event("call.ended", "C8", now - 300, "support", "phone", agent_id="a6"),
        event("call.queued", "C9", now - 900, "support", "phone"),
        event("call.callback_requested", "C9", now - 840, "support", "phone"),
        event("call.abandoned", "C9", now - 835, "support", "phone"),
        event("call.callback_handled", "C9", now - 300, "support", "phone", agent_id="a7"),
        event("call.queued", "C10", now - 250, "support", "phone"),
        event("call.answered", "C10", now - 245, "support", "phone", agent_id="a7"),
        event("call.transferred", "C10", now - 200, "support", "phone", agent_id="a7"),
        event("call.ended", "C10", now - 199, "support", "phone", agent_id="a7"),
    ]
    return t, c


def catalogue_extras(now: float) -> tuple[list[dict], list[dict]]:
    """Surveys and customer lifecycle (phase 1), then contacts and purchases that follow (phase 2)."""
    first = [
        survey("csat", 5, now - 40, "billing", "email", ticket_id="T1"),
        survey("csat", 1, now - 30, "billing", "email", ticket_id="T1"),  # a second answer: not counted
        survey("csat", 2, now - 90, "billing", "phone", call_id="C1"),
        survey("nps", 10, now - 95, "billing", "chat", ticket_id="T2"),
        survey("nps", 6, now - 600, "billing", "phone", call_id="C2"),
        survey("nps", 8, now - 80, "billing", "email", ticket_id="T4"),
        survey("ces", 3, now - 70, "billing", "email", ticket_id="T1"),
        survey("ces", 6, now - 1000, "sales", "email", ticket_id="T3"),
        customer("customer.joined", "K5", now - 100),
        customer("customer.joined", "K6", now - 86400 - 100),
        customer("customer.churned", "K7", now - 50),
        customer("customer.churned", "K7", now - 40),  # the same churn reported again: counted once
        # Agents: A1's shift (its "away" arrives after a later change: late), A2 off on a break,
        # A3 logging in to billing's chat.
        agent("available", "A1", now - 900),
        agent("busy", "A1", now - 600),
        agent("wrap_up", "A1", now - 300),
        agent("away", "A1", now - 700),
        agent("available", "A1", now - 240, queues=["billing", "sales"]),
        agent("available", "A2", now - 500, queues=["sales"]),
        agent("away", "A2", now - 100, queues=["sales"]),
        agent("offline", "A3", now - 3000, queues=["billing"], channel="chat"),
        agent("available", "A3", now - 50, queues=["billing"], channel="chat"),
        # Missed offers in support: A4, available, lets three in a row ring out (flagged); A5
        # misses two, takes a call (busy: the run ends), then misses one more; A6 has no state;
        # A7's miss came before its current spell began.
        agent("available", "A4", now - 800, queues=["support"]),
        missed("A4", now - 700, "support", call_id="C91"),
        missed("A4", now - 600, "support", reason="rejected"),
        missed("A4", now - 500, "support"),
        agent("available", "A5", now - 900, queues=["support"]),
        missed("A5", now - 850, "support"),
        missed("A5", now - 800, "support"),
        agent("busy", "A5", now - 700, queues=["support"]),
        agent("available", "A5", now - 400, queues=["support"]),
        missed("A5", now - 300, "support"),
        missed("A6", now - 200, "support"),
        agent("available", "A7", now - 100, queues=["support"]),
        missed("A7", now - 150, "support"),
    ]
    second = [
        event("call.queued", "C7", now - 30, "billing", "phone", customer_id="K1"),  # repeat of T1
        event("call.answered", "C7", now - 25, "billing", "phone", agent_id="a2"),
        event(
            "ticket.created", "T10", now - 20, "sales", "chat", customer_id="K3"
        ),  # 9 days later: not a repeat
        customer("customer.purchased", "K2", now - 10),  # converts T2's contact
        customer("customer.purchased", "K2", now - 5),  # one conversion per contact
    ]
    return first, second


# Ages run with the clock: they match to the scrape's second.
AGES = {
    "cxpulse_oldest_open_ticket_age_seconds",
    "cxpulse_oldest_unanswered_ticket_age_seconds",
    "cxpulse_longest_call_wait_seconds",
}


def same(got: dict, want: dict) -> bool:
    """Exact counts; float sums and ratios to 1e-9; the oldest ticket's age to the scrape's second."""
    if set(got) != set(want):
        return False
    for key, value in want.items():
        tolerance = 3.0 if key[0] in AGES else 1e-9 * max(1.0, abs(value))
        if abs(got[key] - value) > tolerance:
            return False
    return True


def assert_exact(worker, events: list[dict], rules: Rules | None = None, timeout: float = 60) -> dict:
    """Wait until the worker shows exactly the expected KPI samples, then check they stay so."""

    def matches() -> dict | None:
        t0 = time.time()
        got = kpi_samples(worker.metrics())
        if int(t0 // 60) != int(time.time() // 60):
            return None  # scrape straddled a bucket boundary: ask again
        return got if same(got, expected_samples(events, t0, rules)) else None

    try:
        got = wait_for(matches, timeout, what="exact KPI samples")
    except AssertionError:
        now = time.time()
        got, want = kpi_samples(worker.metrics()), expected_samples(events, now, rules)
        diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
        # The differences last: a CI log shows the end of a failure first.
        raise AssertionError(f"{worker.log_tail()}\nKPI samples differ (got, want): {diff}") from None
    time.sleep(2)
    assert wait_for(matches, 10, what="the same samples two seconds later")
    return got


RULES = Rules(
    customer_base=50,
    per_queue={"billing": {"frt_target": 200.0, "hourly_cost": 45.0}},
    priority_targets={"urgent": 900.0, "high": 600.0},
)
CATALOGUE_ENV = {
    "CXPULSE_PRIORITY_FIRST_RESPONSE_TARGETS": '{"urgent": 900, "high": 600}',
    # The scenario spans 9 days and partitions interleave freely: nothing should count as late here.
    "CXPULSE_GRACE_SECONDS": str(30 * 86400),
    "CXPULSE_CUSTOMER_BASE": "50",
    "CXPULSE_QUEUE_SETTINGS": '{"billing": {"first_response_target_seconds": 200, "hourly_cost": 45}}',
}


@pytest.fixture
def catalogue_stack(stack):
    stack.extra_env.update(CATALOGUE_ENV)
    return stack


def label(**labels: str) -> frozenset:
    return frozenset(labels.items())


def test_every_kpi_exact_on_real_kafka(catalogue_stack, kafka):
    stack = catalogue_stack
    now = time.time()
    tickets, calls = scenario(now)
    first, second = catalogue_extras(now)
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    phase1 = tickets + calls + first
    produce(kafka.bootstrap, stack.records(phase1))
    assert_exact(worker, phase1, RULES)
    # Contacts and purchases that must follow the first ones in time and in arrival.
    produce(kafka.bootstrap, stack.records(second))
    got = assert_exact(worker, phase1 + second, RULES)

    # The edge cases, as a supervisor would read them (all also inside the full comparison above).
    be, bc, bp = label(queue="billing", channel="email"), label(queue="billing", channel="chat"), None
    bp = label(queue="billing", channel="phone")
    se, sc = label(queue="sales", channel="email"), label(queue="sales", channel="chat")
    assert got[("cxpulse_tickets_escalated_total", be)] == 1  # escalated twice, one ticket
    assert got[("cxpulse_first_response_seconds_sum", be)] == 300  # bot and customer replies ignored
    assert got[("cxpulse_first_response_sla_breaches_total", be)] == 1  # 300 s against billing's 200 s
    assert got[("cxpulse_tickets_escalated_total", se)] == 2  # T3, and T9 whose creation never came
    assert got[("cxpulse_ticket_first_responses_total", se)] == 1  # no response for the unknown T9
    assert got[("cxpulse_resolution_seconds_sum", bc)] == 130 + 100  # reopen starts a new open period
    assert got[("cxpulse_tickets_first_contact_voided_total", bc)] == 1
    assert got[("cxpulse_tickets_first_contact_resolved_total", sc)] == 1  # bot-only solve, not voided
    assert got[("cxpulse_tickets_open", sc)] == 2  # T7 reopened, T10 new
    assert got[("cxpulse_tickets_open", be)] == 1  # T4; T1 was resolved
    assert got[("cxpulse_complaints_total", be)] == 1
    assert got[("cxpulse_calls_short_abandoned_total", bp)] == 1
    assert got[("cxpulse_calls_abandoned_total", bp)] == 1
    assert (
        got[("cxpulse_call_abandonment_ratio", label(queue="billing", channel="phone", window="15m"))]
        == 1 / 5
    )
    assert (
        got[("cxpulse_service_level_ratio", label(queue="billing", channel="phone", window="15m"))] == 2 / 5
    )
    # The queue now: C6 still waits (45 s so far), T7 (reopened) waits on an agent, T10 and T4 are new.
    assert got[("cxpulse_calls_waiting", bp)] == 1
    assert 45 <= got[("cxpulse_longest_call_wait_seconds", bp)] < 45 + 60
    assert got[("cxpulse_tickets_open_by_status", label(queue="sales", channel="chat", status="open"))] == 1
    assert got[("cxpulse_tickets_open_by_status", label(queue="sales", channel="chat", status="new"))] == 1
    assert got[("cxpulse_tickets_open_by_status", label(queue="billing", channel="email", status="new"))] == 1
    assert got[("cxpulse_csat_responses_total", be)] == 1  # the second answer on T1 is not counted
    # Agents now, and A1's spells: 300 s available, 300 s busy, 60 s wrap-up; its late "away" ignored.
    assert got[("cxpulse_agents", label(queue="billing", channel="phone", state="available"))] == 1
    assert got[("cxpulse_agents", label(queue="sales", channel="phone", state="available"))] == 1
    assert got[("cxpulse_agents", label(queue="sales", channel="phone", state="away"))] == 1
    assert got[("cxpulse_agents", label(queue="billing", channel="chat", state="available"))] == 1
    assert got[("cxpulse_agent_events_late_total", bp)] == 1
    assert got[("cxpulse_after_call_work_seconds_sum", bp)] == 60
    # Staffing: 5 calls offered in 15 minutes, one agent staffed (A1): short of agents.
    assert got[("cxpulse_staffing_gap_agents", bp)] == got[("cxpulse_required_agents", bp)] - 1 >= 1
    assert ("cxpulse_required_agents", label(queue="sales", channel="phone")) not in got  # no call in 15 min
    occupancy = label(queue="billing", channel="phone", window="15m")
    assert got[("cxpulse_agent_occupancy_ratio", occupancy)] == (300 + 60) / (300 + 300 + 60)
    assert got[("cxpulse_nps_score", label(queue="billing", channel="chat", window="5m"))] == 100
    assert got[("cxpulse_repeat_contacts_total", bp)] == 1
    assert got[("cxpulse_repeat_contacts_total", sc)] == 0
    assert got[("cxpulse_conversions_total", bc)] == 1
    assert got[("cxpulse_customers_churned_total", frozenset())] == 1
    assert got[("cxpulse_customers_active", frozenset())] == 50 + 2 - 1

    # First replies by priority (support, email).
    def priority(name: str, value: str) -> float | None:
        return got.get((name, label(queue="support", channel="email", priority=value)))

    replies, late = (
        "cxpulse_ticket_first_responses_by_priority_total",
        "cxpulse_first_response_sla_breaches_by_priority_total",
    )
    assert [priority(replies, p) for p in ("urgent", "high", "other", "low")] == [3, 1, 1, None]
    assert [priority(late, p) for p in ("urgent", "high", "other")] == [2, 0, 0]
    assert got[("cxpulse_first_response_sla_breaches_total", label(queue="support", channel="email"))] == 2
    # Holds, transfers and callbacks (support, phone).
    up = label(queue="support", channel="phone")
    assert got[("cxpulse_agent_missed_offers_total", up)] == 3 + 3 + 1 + 1
    assert got[("cxpulse_agents_missing_offers", up)] == 1  # A4
    assert got[("cxpulse_call_holds_total", up)] == 2
    assert got[("cxpulse_call_hold_seconds_total", up)] == 60 + 100
    assert got[("cxpulse_call_consult_transfers_total", up)] == 1
    assert got[("cxpulse_call_blind_transfers_total", up)] == 1
    assert got[("cxpulse_callbacks_requested_total", up)] == 1
    assert got[("cxpulse_callbacks_handled_total", up)] == 1
    assert got[("cxpulse_calls_abandoned_total", up)] == 0  # C9 took the callback
    assert got[("cxpulse_calls_offered_total", up)] == 3
    assert got[("cxpulse_calls_waiting", up)] == 0
    samples = worker.metrics()
    assert samples[("cxpulse_events_total", label(topic=stack.tickets, type="ticket.replied"))] == 9 + 5

    # Agents one by one (/agents), against the oracle, and a few read by hand.
    events = phase1 + second
    wait_for(lambda: not agents_differ(events, [worker]), 30, what="/agents to match the oracle")
    doc = worker.agents()
    rows = {row["agent"]: row for row in doc["agents"]}
    a1, a4, a5 = rows["A1"], rows["A4"], rows["A5"]
    # A1's hour: 300 s available, 300 busy, 60 wrap-up, then available again until now (its late
    # away ignored).
    assert (a1["state"], a1["queues"]) == ("available", ["billing", "sales"])
    assert 240 <= a1["seconds_in_state"] < 240 + 30
    assert a1["occupancy_1h"] == pytest.approx((300 + 60) / (300 + 300 + 60 + a1["seconds_in_state"]))
    assert (a4["missed_in_a_row"], a4["flagged"], a4["occupancy_1h"]) == (3, True, 0.0)
    assert (a5["missed_in_a_row"], a5["flagged"]) == (1, False)
    if now - 138 >= today_start(doc["at"], 0):  # C1, answered and ended by a2 today
        assert (rows["a2"]["calls_handled_today"], rows["a2"]["state"]) == (1, "offline")
        assert rows["a2"]["mean_handle_seconds_today"] == pytest.approx(118, abs=1e-3)


def test_bad_records_and_duplicates_change_nothing(catalogue_stack, kafka):
    """The whole invalid corpus, and every good event twice, interleaved: good KPIs stay exact."""
    from kafka import KafkaConsumer

    stack = catalogue_stack
    tickets, calls = scenario(time.time())
    good = stack.records(tickets + calls)
    bad = [(stack.topics[case.family], case.key, case.value) for case in CORPUS]
    records = []
    for i, rec in enumerate(good):
        records.append(rec)
        if i % 2 == 0 and bad:
            records.append(bad.pop())
        records.append(rec)
    records += bad
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, records)
    assert_exact(worker, tickets + calls, RULES)
    samples = worker.metrics()
    invalid = {
        (dict(labels)["topic"], dict(labels)["reason"]): v
        for (name, labels), v in samples.items()
        if name == "cxpulse_events_invalid_total"
    }
    expected = Counter((stack.topics[case.family], case.reason) for case in CORPUS)
    assert invalid == expected
    dups = sum(v for (name, _), v in samples.items() if name == "cxpulse_events_duplicate_total")
    assert dups == len(good)

    consumer = KafkaConsumer(
        stack.deadletter,
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    parked = [orjson.loads(m.value) for m in consumer]
    consumer.close()
    assert Counter((p["topic"], p["reason"]) for p in parked) == expected
    assert all(
        isinstance(p["partition"], int) and isinstance(p["offset"], int) and p["detail"] for p in parked
    )
    values = {p["value"] for p in parked}
    assert all(case.value.decode("utf-8", "replace") in values for case in CORPUS)


def test_out_of_order_within_grace_lands_in_its_window_and_late_events_only_in_totals(stack, kafka):
    stack.extra_env["CXPULSE_GRACE_SECONDS"] = "120"
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    now = time.time()
    events = [
        # Answered first, queued 45 s earlier arrives second: out of order, inside the grace.
        event("call.answered", "C-ooo", now - 5, "billing", "phone"),
        event("call.queued", "C-ooo", now - 50, "billing", "phone"),
        # Queued now; its answer, stamped 20 minutes back by a skewed phone system, arrives after
        # that on the same partition: past the grace.
        event("call.queued", "C-late", now - 10, "sales", "phone"),
        event("call.answered", "C-late", now - 1200, "sales", "phone"),
    ]
    produce(kafka.bootstrap, stack.records(events))
    bp, sp = label(queue="billing", channel="phone"), label(queue="sales", channel="phone")

    def settled() -> dict | None:
        samples = worker.metrics()
        return samples if samples.get(("cxpulse_events_late_total", sp)) == 1 else None

    samples = wait_for(settled, 60, what="the late abandon to be counted")
    assert samples[("cxpulse_calls_offered_total", bp)] == 1
    assert (
        samples[("cxpulse_window_calls_offered", label(queue="billing", channel="phone", window="5m"))] == 1
    )
    assert samples[("cxpulse_call_wait_seconds_sum", bp)] == pytest.approx(45)
    assert samples[("cxpulse_events_late_total", bp)] == 0
    assert samples[("cxpulse_calls_answered_total", sp)] == 1  # in the totals
    for window in ("5m", "15m", "1h"):  # in no window, though 20 minutes is inside the hour
        assert (
            samples[("cxpulse_window_calls_answered", label(queue="sales", channel="phone", window=window))]
            == 0
        )


def test_the_rocksdb_store_gives_the_same_numbers_and_keeps_them_over_a_restart(
    catalogue_stack, kafka, tmp_path
):
    """State on disk (CXPULSE_STORE=rocksdb://): exact KPIs, and a restarted worker resumes them."""
    stack = catalogue_stack
    stack.extra_env.update({"CXPULSE_STORE": "rocksdb://", "CXPULSE_DATA_DIR": str(tmp_path / "state")})
    now = time.time()
    tickets, calls = scenario(now)
    first, second = catalogue_extras(now)
    worker = stack.worker("first")
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, stack.records(tickets + calls + first))
    assert_exact(worker, tickets + calls + first, RULES)
    worker.stop()
    assert any((tmp_path / "state").rglob("*.sst")) or any((tmp_path / "state").rglob("CURRENT"))
    again = stack.worker("second")
    again.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, stack.records(second))
    assert_exact(again, tickets + calls + first + second, RULES)


def test_business_hours_clocks_on_real_kafka(catalogue_stack, kafka):
    """A ticket opened the evening before a holiday, answered the morning after it."""
    stack = catalogue_stack
    day = 86400
    today = time.time() // day * day  # midnight UTC
    holiday = time.strftime("%Y-%m-%d", time.gmtime(today - 2 * day))
    every_day = {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    calendar = {"zone": "UTC", "hours": every_day, "holidays": [holiday]}
    stack.extra_env["CXPULSE_BUSINESS_HOURS"] = orjson.dumps({"billing": calendar}).decode()
    evening, morning = today - 3 * day + 17 * 3600, today - day + 10 * 3600
    events = [
        event("ticket.created", "H1", evening, "billing", "email"),
        event("ticket.replied", "H1", morning, "billing", "email", author="agent", agent_id="a1"),
        event("ticket.resolved", "H1", morning + 1800, "billing", "email", agent_id="a1"),
        # The same in a queue open around the clock.
        event("ticket.created", "H2", evening, "sales", "email"),
        event("ticket.replied", "H2", morning, "sales", "email", author="agent", agent_id="a1"),
    ]
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, stack.records(events))
    be, se = label(queue="billing", channel="email"), label(queue="sales", channel="email")

    def answered() -> dict | None:
        got = worker.metrics()
        return got if got.get(("cxpulse_tickets_resolved_total", be)) == 1 else None

    got = wait_for(answered, 60, what="the tickets counted")
    # 17:00-18:00 the first evening, the holiday closed, 09:00-10:00 the last morning: two hours.
    assert got[("cxpulse_first_response_business_seconds_sum", be)] == 7200
    assert got[("cxpulse_first_response_seconds_sum", be)] == morning - evening == 41 * 3600
    assert got[("cxpulse_first_response_sla_breaches_total", be)] == 1  # 2 business hours > 1 h target
    assert got[("cxpulse_resolution_business_seconds_sum", be)] == 7200 + 1800
    assert got[("cxpulse_first_response_business_seconds_bucket", be | {("le", "7200.0")})] == 1
    assert got[("cxpulse_first_response_business_seconds_bucket", be | {("le", "3600.0")})] == 0
    # Sales has no calendar: calendar time only, and no business series at all.
    assert got[("cxpulse_first_response_sla_breaches_total", se)] == 1
    assert not [k for k in got if k[0].startswith("cxpulse_first_response_business") and k[1] >= se]


def test_today_so_far_rolls_over_at_each_queues_own_day_start_and_survives_a_restart(stack, kafka):
    """Support counts from its midnight in a zone off the whole hours (Kolkata, UTC+05:30, or
    another where the day is an hour old at least), sales from 06:30 UTC: a call of the day before
    that arrives after the day began counts in the totals only, and a restarted worker shows the
    same day from the changelog."""
    now = time.time()
    for zone in ("Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"):  # midnights hours apart
        local = datetime.fromtimestamp(now, ZoneInfo(zone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        if now - midnight >= 3600:  # room for a call between midnight and now
            break
    reset = (now - 6.5 * 3600) // 86400 * 86400 + 6.5 * 3600  # 06:30 UTC, today's or yesterday's
    calendar = {"zone": zone, "hours": {"mon": "09:00-18:00"}}
    stack.extra_env.update(
        {
            "CXPULSE_GRACE_SECONDS": str(2 * 86400),
            "CXPULSE_BUSINESS_HOURS": orjson.dumps({"support": calendar}).decode(),
            "CXPULSE_QUEUE_SETTINGS": '{"sales": {"day_start_hour": 6.5}}',
        }
    )
    half = midnight + (now - midnight) / 2  # inside the local day, whatever the hour now
    before = [
        event("call.queued", "Y1", midnight - 600, "support", "phone"),
        event("call.answered", "Y1", midnight - 590, "support", "phone", agent_id="a1"),
        event("ticket.created", "Y2", reset - 60, "sales", "email"),
    ]
    during = [
        event("call.queued", "D1", half, "support", "phone"),
        event("call.answered", "D1", half + 8, "support", "phone", agent_id="a1"),
        event("call.ended", "D1", half + 8 + 240, "support", "phone", agent_id="a1"),
        event("call.queued", "D2", half + 30, "support", "phone"),
        event("call.abandoned", "D2", half + 90, "support", "phone"),
        event("ticket.created", "D3", reset + (now - reset) / 2, "sales", "email"),
    ]
    # Of the day before, sent once the day began: in the totals, not in today's counts.
    late = [event("call.queued", "Y3", midnight - 60, "support", "phone")]
    for e in during:  # a call's events stay in the past however soon after the day began
        assert datetime.fromisoformat(e["occurred_at"]).timestamp() <= now
    worker = stack.worker("first")
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, stack.records(before + during))
    sp, se = label(queue="support", channel="phone"), label(queue="sales", channel="email")
    want = {
        ("cxpulse_today_calls_offered", sp): 2,
        ("cxpulse_today_calls_answered", sp): 1,
        ("cxpulse_today_calls_answered_within_sla", sp): 1,
        ("cxpulse_today_calls_abandoned", sp): 1,
        ("cxpulse_today_calls_handled", sp): 1,
        ("cxpulse_today_answer_wait_seconds", sp): 8,
        ("cxpulse_today_handle_seconds", sp): 240,
        ("cxpulse_today_start_timestamp_seconds", sp): midnight,
        ("cxpulse_today_tickets_created", se): 1,
        ("cxpulse_today_start_timestamp_seconds", se): reset,
    }

    def shows(offered_total: int):
        def check() -> dict | None:
            got = worker_now.metrics()
            if got.get(("cxpulse_calls_offered_total", sp)) != offered_total:
                return None
            return got if {k: got.get(k) for k in want} == want else None

        return check

    worker_now = worker
    wait_for(shows(3), 60, what="today's counts")
    produce(kafka.bootstrap, stack.records(late))
    got = wait_for(shows(4), 60, what="the late call in the totals only")
    assert got[("cxpulse_tickets_created_total", se)] == 2
    worker.stop()
    worker_now = stack.worker("second")
    worker_now.wait_assigned(stack.partitions)
    wait_for(shows(4), 60, what="the same day after a restart")
