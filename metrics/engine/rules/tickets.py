"""Ticket KPIs: first response, resolution, escalations, reopens, first-contact resolution, backlog.

A reply or resolution that arrives before its ticket's ``created`` is held, and counted when
``created`` arrives, attributed to its own time. A ticket enters the backlog and its status levels
at its *home* (the queue and channel it was created in), so a count never drifts when a later
event names another queue.
"""

from __future__ import annotations

from metrics.contract.events import (
    TicketCreated,
    TicketEscalated,
    TicketEvent,
    TicketReopened,
    TicketReplied,
    TicketResolved,
)
from metrics.definitions import LEVEL_TICKETS_OPEN, priority_key, status_level
from metrics.engine.rules.facts import by_agent, new_fact, with_levels
from metrics.model import ContactMade, Fact, LevelMove, Output, State
from metrics.policy import Policy, QueuePolicy


def ticket_step(state: State | None, event: TicketEvent, policy: Policy) -> tuple[State, list[Output]]:
    """Apply one ticket event; return the new state and what it completes."""
    if state is None:
        state = {
            "created": None,  # time of ticket.created
            "responded": False,
            "pending_reply": None,  # earliest agent reply seen before created
            "pending_resolved": None,  # resolution seen before created
            "escalated": False,
            "open_since": None,  # start of the current open period, None when not open
            "resolved_once": False,
            "agent_replies": 0,
            "fcr": False,  # counted as a first-contact resolution
            "fcr_void_pending": False,  # reopened after that resolution; a further reply voids it
        }
    at = event.at
    facts: list[Fact] = []
    outputs: list[Output] = []
    levels: list[LevelMove] = []
    rules = policy.for_queue(event.queue)
    if event.priority is not None and not state["responded"]:
        state["priority"] = event.priority  # the latest before the first reply picks its target
    if isinstance(event, TicketCreated):
        if state["created"] is None:
            state["created"] = at
            counts = {"tickets_created": 1}
            if "complaint" in event.tags:
                counts["complaints"] = 1
            facts.append(new_fact(at, counts))
            if event.customer_id:
                outputs.append(
                    ContactMade(event.customer_id, {"at": at, "queue": event.queue, "channel": event.channel})
                )
            pending = state["pending_reply"]
            if pending is not None:
                state["pending_reply"] = None
                facts.append(_first_response(state, pending, at, policy, rules, {}))
            resolved = state["pending_resolved"]
            if resolved is None:
                state["open_since"] = at
                state["home"] = [event.queue, event.channel]
                levels.append(LevelMove(LEVEL_TICKETS_OPEN, at, 1))
                _set_status(state, "pending" if state["responded"] else "new", at, levels)
            else:
                state["pending_resolved"] = None
                state["open_since"] = at
                facts.append(_resolve(state, resolved, {}, levels, rules, entered_backlog=False))
    elif isinstance(event, TicketReplied):
        if event.author == "customer" and state["open_since"] is not None and state["responded"]:
            _set_status(state, "open", at, levels)
        if event.author == "agent":
            state["agent_replies"] += 1
            if state["open_since"] is not None:
                _set_status(state, "pending", at, levels)
            extra = by_agent(event)
            if state["fcr_void_pending"]:
                state["fcr_void_pending"] = False
                facts.append(new_fact(at, {"tickets_first_contact_voided": 1}, **extra))
                extra = {}
            if not state["responded"]:
                if state["created"] is None:
                    pending = state["pending_reply"]
                    state["pending_reply"] = at if pending is None else min(pending, at)
                else:
                    facts.append(_first_response(state, at, state["created"], policy, rules, extra))
                    extra = {}
            if extra:
                facts.append(new_fact(at, {}, **extra))
    elif isinstance(event, TicketEscalated):
        if not state["escalated"]:
            state["escalated"] = True
            facts.append(new_fact(at, {"tickets_escalated": 1}, **by_agent(event)))
    elif isinstance(event, TicketResolved):
        if state["created"] is None:
            if state["pending_resolved"] is None:
                state["pending_resolved"] = at
        elif state["open_since"] is not None:
            facts.append(_resolve(state, at, by_agent(event), levels, rules, entered_backlog=True))
    elif isinstance(event, TicketReopened) and state["open_since"] is None and state["resolved_once"]:
        state["open_since"] = at
        if state["fcr"]:
            state["fcr_void_pending"] = True
        facts.append(new_fact(at, {"tickets_reopened": 1}))
        state["home"] = state.get("home") or [event.queue, event.channel]
        levels.append(LevelMove(LEVEL_TICKETS_OPEN, at, 1))
        _set_status(state, "open", at, levels)
    return state, with_levels(state, event, at, facts, levels, outputs)


def _set_status(state: State, status: str | None, at: float, levels: list[LevelMove]) -> None:
    """Move an open ticket to ``status`` (None: out of the backlog); "new" counts from its creation."""
    old = state.get("status")
    if old == status:
        return
    if old is not None:
        levels.append(LevelMove(status_level(old), state["status_since"], -1))
    since = None
    if status is not None:
        since = state["created"] if status == "new" else at
        levels.append(LevelMove(status_level(status), since, 1))
    state["status"], state["status_since"] = status, since


def _first_response(
    state: State, reply_at: float, created_at: float, policy: Policy, rules: QueuePolicy, extra: dict
) -> Fact:
    """The first agent reply; in a queue with a calendar also in business seconds, which then
    decide the SLA breach, against the target of the ticket's priority (the queue's where it has
    none of its own). Counted by priority too when priorities are configured."""
    state["responded"] = True
    seconds = max(0.0, reply_at - created_at)
    observations = {"first_response_seconds": seconds}
    judged = seconds
    if rules.calendar is not None:
        judged = observations["first_response_business_seconds"] = rules.calendar.business_seconds(
            created_at, reply_at
        )
    priority = policy.priority(state.get("priority"))
    counts = {"ticket_first_responses": 1}
    late = judged > policy.first_response_target(rules, priority)
    if late:
        counts["first_response_sla_breaches"] = 1
    if priority is not None:  # both keys, so a priority's breaches start at 0, not at its first
        counts[priority_key("ticket_first_responses", priority)] = 1
        counts[priority_key("first_response_sla_breaches", priority)] = int(late)
    return new_fact(reply_at, counts, observations, **extra)


def _resolve(
    state: State, at: float, extra: dict, levels: list[LevelMove], rules: QueuePolicy, entered_backlog: bool
) -> Fact:
    since = state["open_since"]
    state["open_since"] = None
    counts = {"tickets_resolved": 1}
    if not state["resolved_once"]:
        state["resolved_once"] = True
        if state["agent_replies"] < 2:
            state["fcr"] = True
            counts["tickets_first_contact_resolved"] = 1
    if entered_backlog:
        levels.append(LevelMove(LEVEL_TICKETS_OPEN, since, -1))
        _set_status(state, None, at, levels)
    observations = {"resolution_seconds": max(0.0, at - since)}
    if rules.calendar is not None:
        observations["resolution_business_seconds"] = rules.calendar.business_seconds(since, at)
    return new_fact(at, counts, observations, **extra)
