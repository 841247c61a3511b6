"""Ticket and call KPI rules, without a broker."""

from __future__ import annotations

import pytest
from helpers import agent, customer, event, missed, survey

from metrics.contract.events import AGENTS, CALLS, CUSTOMERS, SURVEYS, TICKETS
from metrics.engine.ledger import LEDGER_SIZE, remember, seen_before
from metrics.engine.rules.agents import agent_step
from metrics.engine.rules.calls import call_step
from metrics.engine.rules.customers import contact_step, customer_step
from metrics.engine.rules.surveys import survey_step
from metrics.engine.rules.tickets import ticket_step
from metrics.engine.steps import merge_outputs
from metrics.model import ContactMade, Fact, LevelMove, QueueFacts
from metrics.policy import Policy, QueuePolicy

T0 = 1_700_000_000.0
POLICY = Policy()


def run(step, family, *events: dict) -> list:
    """Facts of the events, without the extras (agents, backlog) unless a test asks for them."""
    state, out = None, []
    for ev in events:
        state, outputs = step(state, family.adapter.validate_python(ev), POLICY)
        for output in outputs:
            if isinstance(output, QueueFacts):
                out += [[at, counts, obs] for at, counts, obs, _ in output.facts if counts or obs]
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
    waited = {"call_abandon_wait_seconds": 40.0}  # how long the caller held on, for the patience
    assert facts == [[T0, {"calls_offered": 1}, {}], [T0 + 40, {"calls_abandoned": 1}, waited]]


def test_answer_before_queued_gets_its_wait_when_queued_arrives():
    facts = call(event("call.answered", "C", T0 + 20), event("call.queued", "C", T0))
    assert facts == [
        [T0 + 20, {"calls_answered": 1}, {}],
        [T0, {"calls_offered": 1}, {}],
        [T0 + 20, {"calls_answered_within_sla": 1}, {"call_wait_seconds": 20.0}],
    ]


def test_a_callback_leaves_the_queue_and_what_follows_is_neither_an_answer_nor_an_abandon():
    facts = call(
        event("call.queued", "C", T0),
        event("call.callback_requested", "C", T0 + 60),
        event("call.abandoned", "C", T0 + 65),  # the caller hangs up on the confirmation
        event("call.answered", "C", T0 + 900, agent_id="a1"),  # the callback's own leg
        event("call.callback_handled", "C", T0 + 900, agent_id="a1"),
        event("call.callback_handled", "C", T0 + 950, agent_id="a1"),  # once per call
    )
    assert facts == [
        [T0, {"calls_offered": 1}, {}],
        [T0 + 60, {"callbacks_requested": 1}, {}],
        [T0 + 900, {"callbacks_handled": 1}, {}],
    ]
    moves = level_moves(
        call_step, CALLS, event("call.queued", "C", T0), event("call.callback_requested", "C", T0 + 60)
    )
    assert [m[2:] for m in moves] == [("calls_waiting", T0, 1), ("calls_waiting", T0, -1)]
    # Taken before its queued arrived: the caller never waits.
    late = level_moves(
        call_step, CALLS, event("call.callback_requested", "C", T0 + 60), event("call.queued", "C", T0)
    )
    assert late == []


def test_holds_count_from_held_to_resumed_or_the_end_and_transfers_each_time():
    facts = call(
        event("call.queued", "C", T0),
        event("call.answered", "C", T0 + 10, agent_id="a1"),
        event("call.resumed", "C", T0 + 20),  # no hold runs: nothing
        event("call.held", "C", T0 + 30),
        event("call.held", "C", T0 + 40),  # already on hold: nothing
        event("call.resumed", "C", T0 + 90),
        event("call.transferred", "C", T0 + 100, transfer="consult"),
        event("call.held", "C", T0 + 110),
        event("call.transferred", "C", T0 + 150),
        event("call.ended", "C", T0 + 160, agent_id="a1"),
        event("call.held", "C", T0 + 170),  # after the end: nothing
    )
    assert facts[2:] == [
        [T0 + 30, {"call_holds": 1}, {}],
        [T0 + 90, {"call_hold_seconds": 60.0}, {}],
        [T0 + 100, {"call_consult_transfers": 1}, {}],
        [T0 + 110, {"call_holds": 1}, {}],
        [T0 + 150, {"call_blind_transfers": 1}, {}],
        [T0 + 160, {"calls_handled": 1}, {"call_handle_seconds": 150.0}],
        [T0 + 160, {"call_hold_seconds": 50.0}, {}],
    ]


def test_an_available_agent_missing_offers_in_a_row_is_flagged_until_its_next_change():
    def miss(at: float) -> dict:
        return {**missed("A", at, "support"), "channel": "phone"}

    moves = level_moves(
        agent_step,
        AGENTS,
        agent("available", "A", T0, queues=["support"]),
        miss(T0 - 10),  # before the spell: the total only
        miss(T0 + 10),
        miss(T0 + 20),
        miss(T0 + 30),  # the third in a row: flagged
        miss(T0 + 40),  # already flagged
        agent("busy", "A", T0 + 50, queues=["support"]),
    )
    flagged = [m for m in moves if m[2] == "agents:missing_offers"]
    assert flagged == [("support", "phone", "agents:missing_offers", T0 + 30, 1),
                       ("support", "phone", "agents:missing_offers", T0 + 30, -1)]  # fmt: skip
    counted = run(agent_step, AGENTS, agent("away", "B", T0, queues=["support"]), miss(T0 + 5))
    assert counted == [[T0 + 5, {"agent_missed_offers": 1}, {}]]  # away: counted, never in a run


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
    assert next(iter(state["ledger"])) == f"e{extra}"
    assert seen_before(state, f"e{extra - 1}", f"o{extra - 1}") == ("new", [])  # fell off
    assert seen_before(state, f"e{extra}", f"o{extra}") == ("replay", [])


def outputs_of(step, family, *events, policy=POLICY):
    state, out = None, []
    for ev in events:
        state, produced = step(state, family.adapter.validate_python(ev) if family else ev, policy)
        out += produced
    return out


def test_reopen_starts_a_new_open_period_and_a_reply_voids_first_contact_resolution():
    facts = tick(
        event("ticket.created", "T", T0, channel="chat"),
        event("ticket.replied", "T", T0 + 30, author="agent"),
        event("ticket.resolved", "T", T0 + 60),
        event("ticket.reopened", "T", T0 + 600),
        event("ticket.replied", "T", T0 + 660, author="agent"),
        event("ticket.resolved", "T", T0 + 700),
    )
    assert facts[2:] == [
        [T0 + 60, {"tickets_resolved": 1, "tickets_first_contact_resolved": 1}, {"resolution_seconds": 60.0}],
        [T0 + 600, {"tickets_reopened": 1}, {}],
        [T0 + 660, {"tickets_first_contact_voided": 1}, {}],
        [T0 + 700, {"tickets_resolved": 1}, {"resolution_seconds": 100.0}],
    ]


def test_two_agent_replies_before_solving_is_not_first_contact_resolution():
    facts = tick(
        event("ticket.created", "T", T0),
        event("ticket.replied", "T", T0 + 30, author="agent"),
        event("ticket.replied", "T", T0 + 40, author="agent"),
        event("ticket.resolved", "T", T0 + 60),
    )
    assert facts[-1] == [T0 + 60, {"tickets_resolved": 1}, {"resolution_seconds": 60.0}]


def test_backlog_enters_on_create_and_reopen_and_leaves_on_resolve():
    outputs = outputs_of(
        ticket_step,
        TICKETS,
        event("ticket.created", "T", T0),
        event("ticket.resolved", "T", T0 + 60),
        event("ticket.reopened", "T", T0 + 90),
    )
    levels = [
        list(lv)
        for o in outputs
        if isinstance(o, QueueFacts)
        for f in o.facts
        for lv in f.extra.get("levels", ())
    ]
    assert levels == [
        ["tickets_open", T0, 1],
        ["status:new", T0, 1],
        ["tickets_open", T0, -1],
        ["status:new", T0, -1],
        ["tickets_open", T0 + 90, 1],
        ["status:open", T0 + 90, 1],
    ]


def test_resolution_before_creation_is_counted_when_the_ticket_appears():
    facts = tick(event("ticket.resolved", "T", T0 + 50), event("ticket.created", "T", T0))
    assert facts == [
        [T0, {"tickets_created": 1}, {}],
        [T0 + 50, {"tickets_resolved": 1, "tickets_first_contact_resolved": 1}, {"resolution_seconds": 50.0}],
    ]


def test_first_response_breach_uses_the_queue_target():
    policy = Policy.build(QueuePolicy(), {"chat": {"first_response_target_seconds": 60}})
    late = [
        event("ticket.created", "T", T0, queue="chat"),
        event("ticket.replied", "T", T0 + 61, queue="chat", author="agent"),
    ]
    out = outputs_of(ticket_step, TICKETS, *late, policy=policy)
    assert out[-1].facts[0].counts == {"ticket_first_responses": 1, "first_response_sla_breaches": 1}
    out = outputs_of(ticket_step, TICKETS, *late)  # default target: one hour
    assert out[-1].facts[0].counts == {"ticket_first_responses": 1}


def test_short_abandon_and_service_level():
    assert call(event("call.queued", "C", T0), event("call.abandoned", "C", T0 + 4.9))[1][1] == {
        "calls_short_abandoned": 1
    }
    assert call(event("call.queued", "C", T0), event("call.abandoned", "C", T0 + 5))[1][1] == {
        "calls_abandoned": 1
    }
    assert call(event("call.queued", "C", T0), event("call.answered", "C", T0 + 21))[1][1] == {
        "calls_answered": 1
    }


def test_survey_counts_once_per_subject_and_kind():
    out = outputs_of(
        survey_step,
        SURVEYS,
        survey("csat", 4, T0, ticket_id="T"),
        survey("csat", 1, T0 + 1, ticket_id="T"),
        survey("nps", 6, T0 + 2, ticket_id="T"),
        survey("ces", 2, T0 + 3, ticket_id="T"),
    )
    assert [list(o.facts[0][1:3]) for o in out] == [
        [{"csat_responses": 1, "csat_satisfied": 1}, {}],
        [{"nps_responses": 1, "nps_detractors": 1}, {}],
        [{}, {"ces_score": 2.0}],
    ]


def _customer_facts(order):
    contacts = {
        "a": {"at": T0, "queue": "billing", "channel": "email"},
        "b": {"at": T0 + 3 * 86400, "queue": "billing", "channel": "phone"},
        "c": {"at": T0 + 20 * 86400, "queue": "sales", "channel": "chat"},
    }
    purchase = CUSTOMERS.adapter.validate_python(customer("customer.purchased", "K", T0 + 5 * 86400))
    state, found = None, []
    for item in order:
        if item == "p":
            state, out = customer_step(state, purchase, POLICY)
        else:
            state, out = contact_step(state, contacts[item], POLICY)
        found += [(o.queue, o.channel, f.at, k) for o in out for f in o.facts for k in f.counts]
    return sorted(found)


def test_repeats_and_conversions_do_not_depend_on_arrival_order():
    expected = _customer_facts(["a", "b", "p", "c"])
    assert ("billing", "phone", T0 + 3 * 86400, "repeat_contacts") in expected
    assert ("billing", "email", T0 + 5 * 86400, "conversions") in expected
    assert ("billing", "phone", T0 + 5 * 86400, "conversions") in expected
    assert not any(k == "repeat_contacts" and q == "sales" for q, _, _, k in expected)
    for order in (["p", "c", "b", "a"], ["b", "a", "c", "p"], ["c", "p", "a", "b"]):
        assert _customer_facts(order) == expected, order


def test_merge_outputs_sends_one_message_per_queue():
    a, b, c = (Fact(float(i), {"tickets_created": 1}, {}, {}) for i in range(3))
    merged = merge_outputs(
        [
            QueueFacts("q", "c", [a]),
            ContactMade("K", {}),
            QueueFacts("q", "c", [b]),
            QueueFacts("q", "x", [c]),
        ]
    )
    assert merged == [QueueFacts("q", "c", [a, b]), ContactMade("K", {}), QueueFacts("q", "x", [c])]


def test_committed_ledger_entries_drop_their_payloads():
    state: dict = {}
    for i in range(6):
        remember(state, f"e{i}", f"tickets:2:{i}", [["facts", "q", "c", [i]]], committed=None)
    remember(state, "e6", "tickets:2:6", [["facts", "q", "c", [6]]], committed=4)
    assert [bool(sent) for _, sent in state["ledger"].values()] == [False] * 4 + [True] * 3
    assert seen_before(state, "e1", "tickets:2:1") == ("replay", [])  # committed: nothing to resend
    assert seen_before(state, "e4", "tickets:2:4") == ("replay", [["facts", "q", "c", [4]]])


def level_moves(step, family, *events: dict) -> list:
    """The level moves of the events, each as (queue, channel, level, since, ±1)."""
    state, moves = None, []
    for ev in events:
        state, outputs = step(state, family.adapter.validate_python(ev), POLICY)
        for output in outputs:
            if isinstance(output, QueueFacts):
                for fact in output.facts:
                    moves += [(output.queue, output.channel, *lv) for lv in fact.extra.get("levels", ())]
    return moves


def test_ticket_status_follows_who_waits_on_whom():
    moves = level_moves(
        ticket_step,
        TICKETS,
        event("ticket.created", "T", T0),
        event("ticket.replied", "T", T0 + 10, author="customer"),  # still new: no agent reply yet
        event("ticket.replied", "T", T0 + 60, author="agent"),
        event("ticket.replied", "T", T0 + 70, author="bot"),  # a bot changes nothing
        event("ticket.replied", "T", T0 + 300, author="customer"),
        event("ticket.resolved", "T", T0 + 400),
    )
    status = [m[2:] for m in moves if m[2].startswith("status:")]
    assert status == [
        ("status:new", T0, 1),
        ("status:new", T0, -1),
        ("status:pending", T0 + 60, 1),
        ("status:pending", T0 + 60, -1),
        ("status:open", T0 + 300, 1),
        ("status:open", T0 + 300, -1),
    ]


def test_levels_leave_the_queue_they_entered_when_a_later_event_names_another():
    moves = level_moves(
        ticket_step,
        TICKETS,
        event("ticket.created", "T", T0, "billing", "email"),
        event("ticket.resolved", "T", T0 + 60, "sales", "email"),
    )
    assert {m[:2] for m in moves} == {("billing", "email")}
    assert sum(m[4] for m in moves) == 0


def test_a_caller_waits_from_queued_to_answer_abandon_or_end():
    answered = level_moves(
        call_step,
        CALLS,
        event("call.queued", "C", T0, "billing", "phone"),
        event("call.answered", "C", T0 + 9),
    )
    assert [m[2:] for m in answered] == [("calls_waiting", T0, 1), ("calls_waiting", T0, -1)]
    for leaving in ("call.abandoned", "call.ended"):
        moves = level_moves(call_step, CALLS, event("call.queued", "C", T0), event(leaving, "C", T0 + 30))
        assert sum(m[4] for m in moves) == 0 and len(moves) == 2
    # An answer or an end that arrives before its queued event: the caller never waited.
    for first in ("call.answered", "call.ended"):
        moves = level_moves(call_step, CALLS, event(first, "C", T0 + 9), event("call.queued", "C", T0))
        assert moves == []
    # Still queued: one caller waiting since T0.
    assert level_moves(call_step, CALLS, event("call.queued", "C", T0)) == [
        ("billing", "email", "calls_waiting", T0, 1)
    ]


def agent_outputs(*events: dict) -> list:
    state, out = None, []
    for ev in events:
        state, outputs = agent_step(state, AGENTS.adapter.validate_python(ev), POLICY)
        out += outputs
    return out


def test_an_agent_spell_is_counted_when_it_ends_in_each_queue_served():
    out = agent_outputs(
        agent("available", "A", T0, queues=["billing", "sales"]),
        agent("wrap_up", "A", T0 + 100, queues=["billing"]),
        agent("offline", "A", T0 + 130, queues=["billing"]),
    )
    available, wrap_up = "agents:available", "agents:wrap_up"
    moved = {"levels": [LevelMove(available, T0, -1), LevelMove(wrap_up, T0 + 100, 1)]}
    ended = {"levels": [LevelMove(wrap_up, T0 + 100, -1)]}
    assert out == [
        QueueFacts("billing", "phone", [Fact(T0, {}, {}, {"levels": [LevelMove(available, T0, 1)]})]),
        QueueFacts("sales", "phone", [Fact(T0, {}, {}, {"levels": [LevelMove(available, T0, 1)]})]),
        QueueFacts("billing", "phone", [Fact(T0 + 100, {"agent_available_seconds": 100}, {}, moved)]),
        QueueFacts("sales", "phone", [Fact(T0 + 100, {"agent_available_seconds": 100}, {},
                                           {"levels": [LevelMove(available, T0, -1)]})]),
        QueueFacts("billing", "phone", [Fact(T0 + 130, {"agent_wrap_up_seconds": 30},
                                             {"after_call_work_seconds": 30}, ended)]),
    ]  # fmt: skip


def test_an_agent_change_older_than_the_agents_newest_is_late_and_changes_nothing():
    out = agent_outputs(
        agent("available", "A", T0),
        agent("busy", "A", T0 + 60),
        agent("away", "A", T0 + 30),  # arrives after busy
        agent("busy", "A", T0 + 90),  # no change: nothing to count
    )
    assert out[-1] == QueueFacts("billing", "phone", [Fact(T0 + 30, {"agent_events_late": 1}, {}, {})])
    assert len(out) == 3
