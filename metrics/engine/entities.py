"""Per-ticket, per-call, per-survey and per-customer KPI rules: event + state → outputs.

Pure code over plain dicts (the state is stored as-is in Faust tables and in the replay
path's dictionaries), so it runs the same live, in unit tests and in batch.

A *fact* (:class:`~metrics.model.Fact`) is what an event completes: the event time it is
attributed to (the event that completes the KPI), counter increments and observed values, and
extras the aggregation needs (the agent who did the work; the levels a ticket or call enters or
leaves now — the backlog, a ticket status, the callers waiting). Facts carry no ids into labels.
Levels always go to the queue and channel where the entity entered them (its *home*), so a
count never drifts when a later event names another queue.

A step returns *outputs*, each one of
- :class:`~metrics.model.QueueFacts` (queue, channel, facts) for that queue's aggregate,
- :class:`~metrics.model.LifecycleFacts` (facts) for the customer-base aggregate,
- :class:`~metrics.model.ContactMade` (customer id, ``{"at", "queue", "channel"}``) for the
  customer's own state.

Order rules, chosen so results do not depend on arrival order within an entity:
- an agent reply or a resolution that arrives before its ticket's ``created`` is held;
  it is counted when ``created`` arrives, attributed to its own time;
- an answer that arrives before the call's ``queued`` is counted at once; its wait is
  observed when ``queued`` arrives;
- a duration that comes out negative (clock skew between systems) is clamped to 0.
"""

from __future__ import annotations

from typing import Any

from metrics.contract.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallQueued,
    CustomerChurned,
    CustomerEvent,
    CustomerJoined,
    CustomerPurchased,
    SurveySubmitted,
    TicketCreated,
    TicketEscalated,
    TicketEvent,
    TicketReopened,
    TicketReplied,
    TicketResolved,
)
from metrics.definitions import LEVEL_CALLS_WAITING, LEVEL_TICKETS_OPEN, agent_level, status_level
from metrics.model import ContactMade, Fact, LifecycleFacts, Output, QueueFacts, State
from metrics.policy import SECONDS_PER_DAY, Policy, QueuePolicy


def _fact(at: float, counts: dict[str, int], observations: dict | None = None, **extra: Any) -> Fact:
    return Fact(at, counts, observations or {}, extra)


def _agent(event: Any) -> dict[str, str]:
    return {"agent": event.agent_id} if event.agent_id else {}


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
    levels: list[list[Any]] = []
    rules = policy.for_queue(event.queue)
    if isinstance(event, TicketCreated):
        if state["created"] is None:
            state["created"] = at
            counts = {"tickets_created": 1}
            if "complaint" in event.tags:
                counts["complaints"] = 1
            facts.append(_fact(at, counts))
            if event.customer_id:
                outputs.append(
                    ContactMade(event.customer_id, {"at": at, "queue": event.queue, "channel": event.channel})
                )
            pending = state["pending_reply"]
            if pending is not None:
                state["pending_reply"] = None
                facts.append(_first_response(state, pending, at, rules, {}))
            resolved = state["pending_resolved"]
            if resolved is None:
                state["open_since"] = at
                state["home"] = [event.queue, event.channel]
                levels.append([LEVEL_TICKETS_OPEN, at, 1])
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
            extra = _agent(event)
            if state["fcr_void_pending"]:
                state["fcr_void_pending"] = False
                facts.append(_fact(at, {"tickets_first_contact_voided": 1}, **extra))
                extra = {}
            if not state["responded"]:
                if state["created"] is None:
                    pending = state["pending_reply"]
                    state["pending_reply"] = at if pending is None else min(pending, at)
                else:
                    facts.append(_first_response(state, at, state["created"], rules, extra))
                    extra = {}
            if extra:
                facts.append(_fact(at, {}, **extra))
    elif isinstance(event, TicketEscalated):
        if not state["escalated"]:
            state["escalated"] = True
            facts.append(_fact(at, {"tickets_escalated": 1}, **_agent(event)))
    elif isinstance(event, TicketResolved):
        if state["created"] is None:
            if state["pending_resolved"] is None:
                state["pending_resolved"] = at
        elif state["open_since"] is not None:
            facts.append(_resolve(state, at, _agent(event), levels, rules, entered_backlog=True))
    elif isinstance(event, TicketReopened) and state["open_since"] is None and state["resolved_once"]:
        state["open_since"] = at
        if state["fcr"]:
            state["fcr_void_pending"] = True
        facts.append(_fact(at, {"tickets_reopened": 1}))
        state["home"] = state.get("home") or [event.queue, event.channel]
        levels.append([LEVEL_TICKETS_OPEN, at, 1])
        _set_status(state, "open", at, levels)
    return state, _with_levels(state, event, at, facts, levels, outputs)


def _set_status(state: State, status: str | None, at: float, levels: list[list[Any]]) -> None:
    """Move an open ticket to ``status`` (None: out of the backlog); "new" counts from its creation."""
    old = state.get("status")
    if old == status:
        return
    if old is not None:
        levels.append([status_level(old), state["status_since"], -1])
    since = None
    if status is not None:
        since = state["created"] if status == "new" else at
        levels.append([status_level(status), since, 1])
    state["status"], state["status_since"] = status, since


def _with_levels(
    state: State, event: Any, at: float, facts: list[Fact], levels: list[list[Any]], outputs: list[Output]
) -> list[Output]:
    """The step's outputs: its facts to the event's queue, its level moves to the entity's home."""
    here = [event.queue, event.channel]
    home = state.get("home") or here
    if levels and home == here and facts:
        facts[0][3]["levels"] = levels
    elif levels:
        outputs.insert(0, QueueFacts(home[0], home[1], [_fact(at, {}, levels=levels)]))
    if facts:
        outputs.insert(0, QueueFacts(event.queue, event.channel, facts))
    return outputs


def _first_response(
    state: State, reply_at: float, created_at: float, rules: QueuePolicy, extra: dict
) -> Fact:
    """The first agent reply; in a queue with a calendar also in business seconds, which then
    decide the SLA breach."""
    state["responded"] = True
    seconds = max(0.0, reply_at - created_at)
    observations = {"first_response_seconds": seconds}
    judged = seconds
    if rules.calendar is not None:
        judged = observations["first_response_business_seconds"] = rules.calendar.business_seconds(
            created_at, reply_at
        )
    counts = {"ticket_first_responses": 1}
    if judged > rules.first_response_target_seconds:
        counts["first_response_sla_breaches"] = 1
    return _fact(reply_at, counts, observations, **extra)


def _resolve(
    state: State, at: float, extra: dict, levels: list[list[Any]], rules: QueuePolicy, entered_backlog: bool
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
        levels.append([LEVEL_TICKETS_OPEN, since, -1])
        _set_status(state, None, at, levels)
    observations = {"resolution_seconds": max(0.0, at - since)}
    if rules.calendar is not None:
        observations["resolution_business_seconds"] = rules.calendar.business_seconds(since, at)
    return _fact(at, counts, observations, **extra)


def call_step(state: State | None, event: CallEvent, policy: Policy) -> tuple[State, list[Output]]:
    """Apply one call event; return the new state and what it completes.

    A caller waits from ``queued`` until the first of answered, abandoned or ended; a call whose
    answer or end arrived before its ``queued`` never waits.
    """
    if state is None:
        state = {"queued": None, "answered": None, "abandoned": False, "ended": None}
    at = event.at
    rules = policy.for_queue(event.queue)
    facts: list[Fact] = []
    outputs: list[Output] = []
    levels: list[list[Any]] = []
    if isinstance(event, CallQueued):
        if state["queued"] is None:
            state["queued"] = at
            facts.append(_fact(at, {"calls_offered": 1}))
            if event.customer_id:
                outputs.append(
                    ContactMade(event.customer_id, {"at": at, "queue": event.queue, "channel": event.channel})
                )
            answered = state["answered"]
            if answered is not None:
                facts.append(_wait(answered, answered - at, rules.service_level_seconds, {}, {}))
            elif not state["abandoned"] and not state.get("left"):
                state["waiting"] = True
                state["home"] = [event.queue, event.channel]
                levels.append([LEVEL_CALLS_WAITING, at, 1])
    elif isinstance(event, CallAnswered):
        if state["answered"] is None and not state["abandoned"]:
            state["answered"] = at
            _stop_waiting(state, levels)
            queued = state["queued"]
            if queued is None:
                facts.append(_fact(at, {"calls_answered": 1}, **_agent(event)))
            else:
                facts.append(
                    _wait(at, at - queued, rules.service_level_seconds, {"calls_answered": 1}, _agent(event))
                )
    elif isinstance(event, CallAbandoned):
        if state["answered"] is None and not state["abandoned"]:
            state["abandoned"] = True
            _stop_waiting(state, levels)
            queued = state["queued"]
            short = queued is not None and at - queued < rules.short_abandon_seconds
            facts.append(_fact(at, {"calls_short_abandoned" if short else "calls_abandoned": 1}))
    elif isinstance(event, CallEnded):
        if state["ended"] is None and state["answered"] is not None:
            state["ended"] = at
            handle = max(0.0, at - state["answered"])
            facts.append(_fact(at, {"calls_handled": 1}, {"call_handle_seconds": handle}, **_agent(event)))
        elif state["answered"] is None:
            state["left"] = True  # ended unanswered: out of the queue, whatever arrives later
            _stop_waiting(state, levels)
    return state, _with_levels(state, event, at, facts, levels, outputs)


def _stop_waiting(state: State, levels: list[list[Any]]) -> None:
    if state.get("waiting"):
        state["waiting"] = False
        levels.append([LEVEL_CALLS_WAITING, state["queued"], -1])


def _wait(at: float, wait: float, threshold: float, counts: dict[str, int], extra: dict) -> Fact:
    wait = max(0.0, wait)
    if wait <= threshold:
        counts = {**counts, "calls_answered_within_sla": 1}
    return _fact(at, counts, {"call_wait_seconds": wait}, **extra)


def survey_step(state: State | None, event: SurveySubmitted, policy: Policy) -> tuple[State, list[Output]]:
    """Count a survey answer, once per rated ticket or call and survey kind (the first answer)."""
    if state is None:
        state = {"answered": []}
    if event.survey in state["answered"]:
        return state, []
    state["answered"].append(event.survey)
    at = event.at
    score = event.score
    if event.survey == "csat":
        fact = _fact(at, {"csat_responses": 1, "csat_satisfied": 1} if score >= 4 else {"csat_responses": 1})
    elif event.survey == "nps":
        kind = "nps_promoters" if score >= 9 else "nps_passives" if score >= 7 else "nps_detractors"
        fact = _fact(at, {"nps_responses": 1, kind: 1})
    else:
        fact = _fact(at, {}, {"ces_score": float(score)})
    return state, [QueueFacts(event.queue, event.channel, [fact])]


def agent_step(state: State | None, event: AgentStateChanged, policy: Policy) -> tuple[State, list[Output]]:
    """An agent's change of state: the spell that ends is counted, the agent moves to its new level.

    A spell (time in one state, in the queues served then) is counted when it ends, in each of
    those queues; a wrap-up spell is also one after-call-work observation. An agent's changes
    are applied in event-time order: one that arrives after a later change of the same agent is
    *late* — the wallboard has moved past it and its time is already counted — so it is counted
    as late and changes nothing. Offline time is no spell, and an offline agent is in no level.
    """
    if state is None:
        state = {"state": "offline", "since": None, "queues": [], "channel": event.channel, "latest": None}
    at = event.at
    queues = sorted(set(event.queues))
    if state["latest"] is not None and at < state["latest"]:
        return state, [QueueFacts(q, event.channel, [_fact(at, {"agent_events_late": 1})]) for q in queues]
    state["latest"] = at
    old, since, channel = state["state"], state["since"], state["channel"]
    if (event.state, queues, event.channel) == (old, state["queues"], channel):
        return state, []
    parts: dict[tuple[str, str], Fact] = {}
    if old != "offline" and since is not None:
        spell = at - since
        observations = {"after_call_work_seconds": spell} if old == "wrap_up" else {}
        for queue in state["queues"]:
            parts[(queue, channel)] = _fact(
                at, {f"agent_{old}_seconds": spell}, observations, levels=[[agent_level(old), since, -1]]
            )
    if event.state != "offline":
        for queue in queues:
            fact = parts.setdefault((queue, event.channel), _fact(at, {}, levels=[]))
            fact.extra["levels"].append([agent_level(event.state), at, 1])
    state.update(state=event.state, since=at, queues=queues, channel=event.channel)
    return state, [QueueFacts(queue, ch, [fact]) for (queue, ch), fact in parts.items()]


def _new_customer() -> State:
    # contacts: [at, queue, channel, repeat, converted, clock]; purchases: [at, clock].
    return {"joined": False, "churned": False, "contacts": [], "purchases": []}


# Contacts and purchases are remembered for this many horizons back from the newest one, so
# one that arrives late (another partition lagging, a replay) still finds its neighbours;
# and at most this many of each per customer.
MEMORY_HORIZONS = 4
CUSTOMER_MEMORY = 64


def _prune(items: list[Any], newest: float, horizon: float, at: Any) -> None:
    items[:] = [x for x in items if at(x) >= newest - MEMORY_HORIZONS * horizon][-CUSTOMER_MEMORY:]


def customer_step(
    state: State | None, event: CustomerEvent, policy: Policy, clock: str | None = None
) -> tuple[State, list[Output]]:
    """Lifecycle events: joins and churns feed retention; a purchase converts the contacts before it.

    ``clock`` names the partition the event came from: a conversion is timed by the
    purchase, so the aggregation judges its lateness against that partition's progress.
    """
    if state is None:
        state = _new_customer()
    at = event.at
    if isinstance(event, CustomerJoined):
        if not state["joined"]:
            state["joined"] = True
            return state, [LifecycleFacts([_fact(at, {"customers_joined": 1})])]
    elif isinstance(event, CustomerChurned):
        if not state["churned"]:
            state["churned"] = True
            return state, [LifecycleFacts([_fact(at, {"customers_churned": 1})])]
    elif isinstance(event, CustomerPurchased):
        horizon = policy.conversion_days * SECONDS_PER_DAY
        outputs = []
        extra = {"clock": clock} if clock else {}
        for contact in state["contacts"]:
            if not contact[4] and contact[0] <= at <= contact[0] + horizon:
                contact[4] = True
                outputs.append(QueueFacts(contact[1], contact[2], [_fact(at, {"conversions": 1}, **extra)]))
        purchases = state["purchases"]
        purchases.append([at, clock])
        _prune(purchases, max(p[0] for p in purchases), horizon, lambda p: p[0])
        return state, outputs
    return state, []


def contact_step(state: State | None, contact: dict[str, Any], policy: Policy) -> tuple[State, list[Output]]:
    """A ticket or call from this customer.

    A contact is a *repeat* when the same customer had another contact in the
    ``repeat_contact_days`` before it, and *converted* when a purchase follows it within
    ``conversion_days``. Both are judged on event time, so a contact that arrives late
    can still mark a later one as a repeat: the result does not depend on arrival order.
    Each fact names as its ``clock`` the partition its time comes from (the ticket's or
    call's, the purchase's), so the aggregation judges lateness against that partition.
    """
    if state is None:
        state = _new_customer()
    at, queue, channel, clock = contact["at"], contact["queue"], contact["channel"], contact.get("clock")
    repeat_horizon = policy.repeat_contact_days * SECONDS_PER_DAY
    conversion_horizon = policy.conversion_days * SECONDS_PER_DAY
    counts = {"contacts": 1}
    outputs: list[Output] = []
    contacts = state["contacts"]
    # One pass over the customer's remembered contacts: is this one a repeat, and does it make
    # a later one (that arrived first) a repeat?
    newest, earliest_kept = at, at
    for c in contacts:
        when = c[0]
        if when < at:
            if when >= at - repeat_horizon:
                counts["repeat_contacts"] = 1
        elif when > at and not c[3] and when <= at + repeat_horizon:
            c[3] = True
            outputs.append(QueueFacts(c[1], c[2], [_fact(when, {"repeat_contacts": 1}, **_clock(c[5]))]))
        if when > newest:
            newest = when
        if when < earliest_kept:
            earliest_kept = when
    facts = [_fact(at, counts, **_clock(clock))]
    later = [p for p in state["purchases"] if at <= p[0] <= at + conversion_horizon]
    if later:
        first = min(later)
        facts.append(_fact(first[0], {"conversions": 1}, **_clock(first[1])))
    contacts.append([at, queue, channel, "repeat_contacts" in counts, bool(later), clock])
    memory = MEMORY_HORIZONS * max(repeat_horizon, conversion_horizon)
    if len(contacts) > CUSTOMER_MEMORY or earliest_kept < newest - memory:
        _prune(contacts, newest, max(repeat_horizon, conversion_horizon), lambda c: c[0])
    outputs.insert(0, QueueFacts(queue, channel, facts))
    return state, outputs


def _clock(clock: str | None) -> dict[str, str]:
    return {"clock": clock} if clock else {}


def merge_outputs(outputs: list[Output]) -> list[Output]:
    """One output per destination: receivers drop a second message from the same source record."""
    merged: list[Output] = []
    by_key: dict[tuple[str, str], QueueFacts] = {}
    for output in outputs:
        if isinstance(output, QueueFacts):
            key = (output.queue, output.channel)
            first = by_key.get(key)
            if first is not None:
                first.facts.extend(output.facts)
                continue
            by_key[key] = output
        merged.append(output)
    return merged
