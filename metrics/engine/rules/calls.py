"""Call KPIs: offered, answered (and within the service level), abandoned, handled, callers waiting,
transfers, holds and callbacks.

An answer that arrives before the call's ``queued`` is counted at once; its wait is observed when
``queued`` arrives. A negative duration (clock skew between systems) is clamped to 0. A caller who
took a callback offer left the queue without hanging up on it: what the platform reports of that
call afterwards (the caller hanging up, the callback's leg answered) is neither an abandon nor an
answer; the callback reaching the caller is ``call.callback_handled``.
"""

from __future__ import annotations

from metrics.contract.events import (
    CallAbandoned,
    CallAnswered,
    CallCallbackHandled,
    CallCallbackRequested,
    CallEnded,
    CallEvent,
    CallHeld,
    CallQueued,
    CallResumed,
    CallTransferred,
)
from metrics.definitions import LEVEL_CALLS_WAITING
from metrics.engine.rules.facts import by_agent, new_fact, with_levels
from metrics.model import AgentWork, ContactMade, Fact, LevelMove, Output, State
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
            elif not state["abandoned"] and not state.get("left") and not state.get("callback"):
                state["waiting"] = True
                state["home"] = [event.queue, event.channel]
                levels.append(LevelMove(LEVEL_CALLS_WAITING, at, 1))
    elif isinstance(event, CallAnswered):
        if state["answered"] is None and not state["abandoned"] and not state.get("callback"):
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
        if state["answered"] is None and not state["abandoned"] and not state.get("callback"):
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
            if event.agent_id:
                work = {"at": at, "queue": event.queue, "calls_handled": 1, "handle_seconds": handle}
                outputs.append(AgentWork(event.agent_id, work))
        elif state["answered"] is None:
            state["left"] = True  # ended unanswered: out of the queue, whatever arrives later
            _stop_waiting(state, levels)
        _end_hold(state, at, facts)
    else:
        _service_step(state, event, at, facts, levels)
    return state, with_levels(state, event, at, facts, levels, outputs)


def _service_step(
    state: State, event: CallEvent, at: float, facts: list[Fact], levels: list[LevelMove]
) -> None:
    """Transfers, holds and callbacks, at their own times (none of them makes an agent active:
    the answer and the end already do)."""
    if isinstance(event, CallTransferred):
        facts.append(new_fact(at, {f"call_{event.transfer}_transfers": 1}))
    elif isinstance(event, CallHeld):
        if state.get("held") is None and state["ended"] is None and not state.get("left"):
            state["held"] = at
            facts.append(new_fact(at, {"call_holds": 1}))
    elif isinstance(event, CallResumed):
        _end_hold(state, at, facts)
    elif isinstance(event, CallCallbackRequested):
        if state["answered"] is None and not state["abandoned"] and not state.get("callback"):
            state["callback"] = True
            _stop_waiting(state, levels)
            facts.append(new_fact(at, {"callbacks_requested": 1}))
    elif isinstance(event, CallCallbackHandled) and not state.get("called_back"):
        state["called_back"] = True
        facts.append(new_fact(at, {"callbacks_handled": 1}))


def _end_hold(state: State, at: float, facts: list[Fact]) -> None:
    """The caller's hold, if one runs, ends at ``at``: its seconds count then."""
    held = state.get("held")
    if held is not None:
        state["held"] = None
        facts.append(new_fact(at, {"call_hold_seconds": max(0.0, at - held)}))


def _stop_waiting(state: State, levels: list[LevelMove]) -> None:
    if state.get("waiting"):
        state["waiting"] = False
        levels.append(LevelMove(LEVEL_CALLS_WAITING, state["queued"], -1))


def _wait(at: float, wait: float, threshold: float, counts: dict[str, int], extra: dict) -> Fact:
    wait = max(0.0, wait)
    if wait <= threshold:
        counts = {**counts, "calls_answered_within_sla": 1}
    return new_fact(at, counts, {"call_wait_seconds": wait}, **extra)
