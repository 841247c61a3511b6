"""Ticket and call KPI rules, without a broker."""

from __future__ import annotations

import pytest
from helpers import event

from metrics.entities import LEDGER_SIZE, call_step, remember, seen_before, ticket_step
from metrics.policy import Policy
from streams.events import CALLS, TICKETS

T0 = 1_700_000_000.0
POLICY = Policy()


def run(step, family, *events: dict) -> list:
    """Facts of the events, without the extras (agents, backlog) unless a test asks for them."""
    state, out = None, []
    for ev in events:
        state, outputs = step(state, family.adapter.validate_python(ev), POLICY)
        for output in outputs:
            if output[0] == "facts":
                out += [[at, counts, obs] for at, counts, obs, _ in output[3] if counts or obs]
    return out


def tick(*events: dict) -> list:
    return run(ticket_step, TICKETS, *events)


def call(*events: dict) -> list:
    return run(call_step, CALLS, *events)


def test_first_response_ignores_bot_and_customer_replies():
    facts = tick(
        event("ticket.created", "T", T0),
        event("ticket.replied", "T", T0 + 5, author="bot"),
        event("ticket.replied", "T", T0 + 50, author="customer"),
        event("ticket.replied", "T", T0 + 120, author="agent"),
        event("ticket.replied", "T", T0 + 900, author="agent"),
    )
    assert facts == [
        [T0, {"tickets_created": 1}, {}],
        [T0 + 120, {"ticket_first_responses": 1}, {"first_response_seconds": 120.0}],
    ]


def test_reply_before_created_is_held_until_the_ticket_exists():
    facts = tick(
        event("ticket.replied", "T", T0 + 60, author="agent"),
        event("ticket.replied", "T", T0 + 30, author="agent"),
        event("ticket.created", "T", T0),
    )
    assert facts == [
        [T0, {"tickets_created": 1}, {}],
        [T0 + 30, {"ticket_first_responses": 1}, {"first_response_seconds": 30.0}],
    ]


def test_negative_durations_are_clamped_to_zero():
    facts = tick(event("ticket.created", "T", T0), event("ticket.replied", "T", T0 - 3, author="agent"))
    assert facts[1][2] == {"first_response_seconds": 0.0}


def test_escalation_counts_once_per_ticket_and_second_created_is_ignored():
    facts = tick(
        event("ticket.created", "T", T0),
        event("ticket.created", "T", T0 + 1),
        event("ticket.escalated", "T", T0 + 10),
        event("ticket.escalated", "T", T0 + 20),
    )
    assert facts == [[T0, {"tickets_created": 1}, {}], [T0 + 10, {"tickets_escalated": 1}, {}]]


def test_call_answered_with_wait():
    facts = call(
        event("call.queued", "C", T0, channel="phone"),
        event("call.answered", "C", T0 + 17.5, channel="phone"),
        event("call.ended", "C", T0 + 300, channel="phone"),
    )
    assert facts == [
        [T0, {"calls_offered": 1}, {}],
        [T0 + 17.5, {"calls_answered": 1, "calls_answered_within_sla": 1}, {"call_wait_seconds": 17.5}],
        [T0 + 300, {"calls_handled": 1}, {"call_handle_seconds": 282.5}],
    ]


def test_abandon_then_answer_counts_only_the_abandon():
    facts = call(
        event("call.queued", "C", T0),
        event("call.abandoned", "C", T0 + 40),
        event("call.answered", "C", T0 + 41),
    )
    assert facts == [[T0, {"calls_offered": 1}, {}], [T0 + 40, {"calls_abandoned": 1}, {}]]


def test_answer_before_queued_gets_its_wait_when_queued_arrives():
    facts = call(event("call.answered", "C", T0 + 20), event("call.queued", "C", T0))
    assert facts == [
        [T0 + 20, {"calls_answered": 1}, {}],
        [T0, {"calls_offered": 1}, {}],
        [T0 + 20, {"calls_answered_within_sla": 1}, {"call_wait_seconds": 20.0}],
    ]


def test_ledger_tells_replays_from_duplicates():
    state: dict = {}
    remember(state, "e1", "tickets:0:5", [[T0, {"tickets_created": 1}, {}]])
    assert seen_before(state, "e1", "tickets:0:5") == ("replay", [[T0, {"tickets_created": 1}, {}]])
    assert seen_before(state, "e1", "tickets:0:9") == ("duplicate", [])
    assert seen_before(state, "e2", "tickets:0:6") == ("new", [])
    assert seen_before(None, "e1", "tickets:0:5") == ("new", [])


@pytest.mark.parametrize("extra", [1, 10])
def test_ledger_is_bounded(extra):
    state: dict = {}
    for i in range(LEDGER_SIZE + extra):
        remember(state, f"e{i}", f"o{i}", [])
    assert len(state["ledger"]) == LEDGER_SIZE
    assert state["ledger"][0][0] == f"e{extra}"
