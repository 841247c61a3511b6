"""Per-ticket and per-call KPI logic: event + entity state → KPI facts.

Pure code over plain dicts (the entity state is stored as-is in a Faust table and in
the replay path's dictionaries), so it runs the same live, in unit tests and in batch.

A *fact* is ``(at, counts, observations)``: the event time it is attributed to (the
event that completes the KPI), counter increments and duration observations, keyed
by the names in :mod:`metrics.definitions`. Facts carry no ids.

Order rules, chosen so the result does not depend on arrival order within an entity:
- an agent reply that arrives before its ticket's ``created`` is remembered; the first
  response is emitted when ``created`` arrives, attributed to the reply's time;
- an answer that arrives before the call's ``queued`` is counted at once; its wait is
  observed when ``queued`` arrives;
- a duration that comes out negative (clock skew between systems) is clamped to 0.
"""

from __future__ import annotations

from typing import Any

from streams.events import (
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallQueued,
    TicketCreated,
    TicketEscalated,
    TicketEvent,
    TicketReopened,
    TicketReplied,
    TicketResolved,
)

Fact = list[Any]  # [at: float, counts: dict[str, int], observations: dict[str, float]]
State = dict[str, Any]

# How many recent events per entity are remembered for duplicate detection. Tickets and
# calls have a handful of events each; a retry storm older than this is not expected.
LEDGER_SIZE = 32


def ticket_step(state: State | None, event: TicketEvent) -> tuple[State, list[Fact]]:
    """Apply one ticket event; return the new state and the facts it completes."""
    if state is None:
        state = {
            "created": None,
            "responded": False,
            "pending_reply": None,
            "escalated": False,
            "open": False,
        }
    at = event.occurred_at.timestamp()
    facts: list[Fact] = []
    if isinstance(event, TicketCreated):
        if state["created"] is None:
            state["created"] = at
            state["open"] = True
            facts.append([at, {"tickets_created": 1}, {}])
            pending = state["pending_reply"]
            if pending is not None:
                state["pending_reply"] = None
                facts.append(_first_response(state, pending, at))
    elif isinstance(event, TicketReplied):
        if event.author == "agent" and not state["responded"]:
            if state["created"] is None:
                pending = state["pending_reply"]
                state["pending_reply"] = at if pending is None else min(pending, at)
            else:
                facts.append(_first_response(state, at, state["created"]))
    elif isinstance(event, TicketEscalated):
        if not state["escalated"]:
            state["escalated"] = True
            facts.append([at, {"tickets_escalated": 1}, {}])
    elif isinstance(event, TicketResolved):
        state["open"] = False
    elif isinstance(event, TicketReopened):
        state["open"] = True
    return state, facts


def _first_response(state: State, reply_at: float, created_at: float) -> Fact:
    state["responded"] = True
    return [
        reply_at,
        {"ticket_first_responses": 1},
        {"first_response_seconds": max(0.0, reply_at - created_at)},
    ]


def call_step(state: State | None, event: CallEvent) -> tuple[State, list[Fact]]:
    """Apply one call event; return the new state and the facts it completes."""
    if state is None:
        state = {"queued": None, "answered": None, "abandoned": False, "ended": None}
    at = event.occurred_at.timestamp()
    facts: list[Fact] = []
    if isinstance(event, CallQueued):
        if state["queued"] is None:
            state["queued"] = at
            facts.append([at, {"calls_offered": 1}, {}])
            answered = state["answered"]
            if answered is not None:
                facts.append([answered, {}, {"call_wait_seconds": max(0.0, answered - at)}])
    elif isinstance(event, CallAnswered):
        if state["answered"] is None and not state["abandoned"]:
            state["answered"] = at
            queued = state["queued"]
            observations = {} if queued is None else {"call_wait_seconds": max(0.0, at - queued)}
            facts.append([at, {"calls_answered": 1}, observations])
    elif isinstance(event, CallAbandoned):
        if state["answered"] is None and not state["abandoned"]:
            state["abandoned"] = True
            facts.append([at, {"calls_abandoned": 1}, {}])
    elif isinstance(event, CallEnded) and state["ended"] is None:
        state["ended"] = at
    return state, facts


def seen_before(state: State | None, event_id: str, origin: str) -> tuple[str, list[Fact]]:
    """Classify an event against the entity's ledger of recent events.

    ``origin`` is where the record sits in Kafka (topic:partition:offset). The same id at
    the same origin is a replay after a crash: its facts are sent again (the aggregation
    drops them if it already has them). The same id elsewhere is a producer duplicate and
    counts nothing.
    """
    if state is not None:
        for seen_id, seen_origin, facts in state.get("ledger", ()):
            if seen_id == event_id:
                return ("replay", facts) if seen_origin == origin else ("duplicate", [])
    return "new", []


def remember(state: State, event_id: str, origin: str, facts: list[Fact]) -> None:
    """Add an event to the entity's bounded ledger (oldest entries fall off)."""
    ledger = state.setdefault("ledger", [])
    ledger.append([event_id, origin, facts])
    if len(ledger) > LEDGER_SIZE:
        del ledger[: len(ledger) - LEDGER_SIZE]
