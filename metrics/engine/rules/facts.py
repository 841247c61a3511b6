"""What every entity rule builds its outputs with: facts, the agent behind them, and level moves."""

from __future__ import annotations

from typing import Any

from metrics.contract.events import ContactEvent
from metrics.model import Fact, LevelMove, Output, QueueFacts, State


def new_fact(at: float, counts: dict[str, int], observations: dict | None = None, **extra: Any) -> Fact:
    return Fact(at, counts, observations or {}, extra)


def by_agent(event: ContactEvent) -> dict[str, str]:
    return {"agent": event.agent_id} if event.agent_id else {}


def with_levels(
    state: State,
    event: ContactEvent,
    at: float,
    facts: list[Fact],
    levels: list[LevelMove],
    outputs: list[Output],
) -> list[Output]:
    """The step's outputs: its facts to the event's queue, its level moves to the entity's home."""
    here = [event.queue, event.channel]
    home = state.get("home") or here
    if levels and home == here and facts:
        facts[0].extra["levels"] = levels
    elif levels:
        outputs.insert(0, QueueFacts(home[0], home[1], [new_fact(at, {}, levels=levels)]))
    if facts:
        outputs.insert(0, QueueFacts(event.queue, event.channel, facts))
    return outputs
