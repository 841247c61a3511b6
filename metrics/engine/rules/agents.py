"""Agent KPIs: time spent in each state, counted when a spell ends, agents per state now, and missed
offers (with the available agents who missed several in a row); and each agent's own figures for
the agents view: the spells of the last hour (occupancy), and the day's calls handled, handle
time and missed offers (``today``), counted from the day start of the contact's queue."""

from __future__ import annotations

from metrics.contract.events import AgentEvent, AgentOfferMissed
from metrics.definitions import LEVEL_AGENTS_MISSING_OFFERS, agent_level
from metrics.documents import JsonObject
from metrics.engine.rules.facts import new_fact
from metrics.model import Fact, LevelMove, Output, QueueFacts, State
from metrics.policy import Policy

# How far back an agent's closed spells are kept: the agents view's occupancy is over the last hour.
RECENT_SECONDS = 3600.0
# At most this many are kept (one per 18 s over the hour), so a producer that flips an agent's
# state every second cannot grow its state without bound: the hour then counts the newest only.
RECENT_MAX = 200


def agent_step(state: State | None, event: AgentEvent, policy: Policy) -> tuple[State, list[Output]]:
    """An agent's change of state: the spell that ends is counted, the agent moves to its new level.

    A spell (time in one state, in the queues served then) is counted when it ends, in each of
    those queues; a wrap-up spell is also one after-call-work observation. An agent's changes
    are applied in event-time order: one that arrives after a later change of the same agent is
    *late* — the wallboard has moved past it and its time is already counted — so it is counted
    as late and changes nothing. Offline time is no spell, and an offline agent is in no level.
    """
    if state is None:
        state = new_agent_state(event.channel)
    if isinstance(event, AgentOfferMissed):
        return state, _missed(state, event, policy)
    at = event.at
    queues = sorted(set(event.queues))
    if state["latest"] is not None and at < state["latest"]:
        return state, [QueueFacts(q, event.channel, [new_fact(at, {"agent_events_late": 1})]) for q in queues]
    state["latest"] = at
    old, since, channel = state["state"], state["since"], state["channel"]
    if (event.state, queues, event.channel) == (old, state["queues"], channel):
        return state, []
    parts: dict[tuple[str, str], Fact] = {}
    if old != "offline" and since is not None:
        spell = at - since
        observations = {"after_call_work_seconds": spell} if old == "wrap_up" else {}
        for queue in state["queues"]:
            parts[(queue, channel)] = new_fact(
                at,
                {f"agent_{old}_seconds": spell},
                observations,
                levels=[LevelMove(agent_level(old), since, -1)],
            )
        # The agent's own spells of the last hour, for its occupancy in the agents view; they end
        # in event-time order (a late change is ignored above), so the expired ones lead.
        recent = state.setdefault("recent", [])
        while recent and (recent[0][2] <= at - RECENT_SECONDS or len(recent) >= RECENT_MAX):
            del recent[0]
        recent.append([old, since, at])
    if event.state != "offline":
        for queue in queues:
            fact = parts.setdefault((queue, event.channel), new_fact(at, {}, levels=[]))
            fact.extra["levels"].append(LevelMove(agent_level(event.state), at, 1))
    flagged = state.get("flagged")  # any change of state ends a run of missed offers
    if flagged is not None:
        flagged_queues, flagged_channel, flagged_since = flagged
        for queue in flagged_queues:
            fact = parts.setdefault((queue, flagged_channel), new_fact(at, {}, levels=[]))
            fact.extra["levels"].append(LevelMove(LEVEL_AGENTS_MISSING_OFFERS, flagged_since, -1))
    state.update(state=event.state, since=at, queues=queues, channel=event.channel, missed=0, flagged=None)
    return state, [QueueFacts(queue, ch, [fact]) for (queue, ch), fact in parts.items()]


def _missed(state: State, event: AgentOfferMissed, policy: Policy) -> list[Output]:
    """A missed offer counts in the offer's queue; one missed while the agent has been available
    since before it adds to the agent's run, and the run that reaches the policy's length flags
    the agent in the queues it serves until its next change of state."""
    at = event.at
    parts = {(event.queue, event.channel): new_fact(at, {"agent_missed_offers": 1})}
    count_today(state, policy.day_start(event.queue, at), event.queue, {"missed_offers": 1})
    since = state["since"]
    if state["state"] == "available" and since is not None and at >= since:
        state["missed"] = state.get("missed", 0) + 1
        if state["missed"] >= policy.missed_offers_in_a_row and state.get("flagged") is None:
            state["flagged"] = [state["queues"], state["channel"], at]
            for queue in state["queues"]:
                fact = parts.setdefault((queue, state["channel"]), new_fact(at, {}))
                fact.extra.setdefault("levels", []).append(LevelMove(LEVEL_AGENTS_MISSING_OFFERS, at, 1))
    return [QueueFacts(queue, ch, [fact]) for (queue, ch), fact in parts.items()]


def new_agent_state(channel: str) -> State:
    return {"state": "offline", "since": None, "queues": [], "channel": channel, "latest": None}


def work_step(state: State | None, work: JsonObject, policy: Policy) -> tuple[State, list[Output]]:
    """A contact's work reaching its agent: counted in the agent's day, nowhere else (the queue's
    counters had it from the contact's own facts)."""
    if state is None:
        state = new_agent_state("phone")
    queue = work["queue"]
    counts = {"calls_handled": work["calls_handled"], "handle_seconds": work["handle_seconds"]}
    count_today(state, policy.day_start(queue, work["at"]), queue, counts)
    return state, []


def count_today(state: State, start: float, queue: str, counts: dict[str, float]) -> None:
    """Add ``counts`` to the agent's day that began at ``start``: a later day starts from zero,
    and work of a day already over is left out (the queues' counters have it)."""
    today = state.get("today")
    if today is None or start > today["start"]:
        today = state["today"] = {"start": start, "queue": queue}
    elif start < today["start"]:
        return
    for name, value in counts.items():
        today[name] = today.get(name, 0) + value
