"""Call KPIs: offered, answered (and within the service level), abandoned, handled, callers waiting.

An answer that arrives before the call's ``queued`` is counted at once; its wait is observed when
``queued`` arrives. A negative duration (clock skew between systems) is clamped to 0.
"""

from __future__ import annotations

from metrics.contract.events import (
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallQueued,
)
from metrics.definitions import LEVEL_CALLS_WAITING
from metrics.engine.rules.facts import by_agent, new_fact, with_levels
from metrics.model import ContactMade, Fact, LevelMove, Output, State
from metrics.policy import Policy


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
    levels: list[LevelMove] = []
    if isinstance(event, CallQueued):
        if state["queued"] is None:
            state["queued"] = at
            facts.append(new_fact(at, {"calls_offered": 1}))
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
                levels.append(LevelMove(LEVEL_CALLS_WAITING, at, 1))
    elif isinstance(event, CallAnswered):
        if state["answered"] is None and not state["abandoned"]:
            state["answered"] = at
            _stop_waiting(state, levels)
            queued = state["queued"]
            if queued is None:
                facts.append(new_fact(at, {"calls_answered": 1}, **by_agent(event)))
            else:
                facts.append(
                    _wait(
                        at, at - queued, rules.service_level_seconds, {"calls_answered": 1}, by_agent(event)
                    )
                )
    elif isinstance(event, CallAbandoned):
        if state["answered"] is None and not state["abandoned"]:
            state["abandoned"] = True
            _stop_waiting(state, levels)
            queued = state["queued"]
            short = queued is not None and at - queued < rules.short_abandon_seconds
            if short:
                facts.append(new_fact(at, {"calls_short_abandoned": 1}))
            elif queued is None:
                facts.append(new_fact(at, {"calls_abandoned": 1}))
            else:
                waited = {"call_abandon_wait_seconds": at - queued}
                facts.append(new_fact(at, {"calls_abandoned": 1}, waited))
    elif isinstance(event, CallEnded):
        if state["ended"] is None and state["answered"] is not None:
            state["ended"] = at
            handle = max(0.0, at - state["answered"])
            facts.append(
                new_fact(at, {"calls_handled": 1}, {"call_handle_seconds": handle}, **by_agent(event))
            )
        elif state["answered"] is None:
            state["left"] = True  # ended unanswered: out of the queue, whatever arrives later
            _stop_waiting(state, levels)
    return state, with_levels(state, event, at, facts, levels, outputs)


def _stop_waiting(state: State, levels: list[LevelMove]) -> None:
    if state.get("waiting"):
        state["waiting"] = False
        levels.append(LevelMove(LEVEL_CALLS_WAITING, state["queued"], -1))


def _wait(at: float, wait: float, threshold: float, counts: dict[str, int], extra: dict) -> Fact:
    wait = max(0.0, wait)
    if wait <= threshold:
        counts = {**counts, "calls_answered_within_sla": 1}
    return new_fact(at, counts, {"call_wait_seconds": wait}, **extra)
