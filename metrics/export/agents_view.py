"""Agents one by one, for a supervisor: each agent's state now and its day, from the agents' states.

Per-agent figures are not Prometheus series: an agent id as a label would put every agent's
working day into long-term storage and multiply the series by the size of the floor. They are
served as JSON beside ``/metrics`` (same listener, same TLS and basic auth), read live and
never stored by cxpulse beyond the agent's own state. Ids are as the events gave them, or their
pseudonyms; a display name is only what the operator's name map gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from metrics.documents import JsonObject
from metrics.engine.rules.agents import RECENT_SECONDS
from metrics.model import State
from metrics.policy import Policy

OCCUPIED = frozenset({"busy", "wrap_up"})


class AgentRow(NamedTuple):
    """One agent as the agents view shows it; ``None`` where there is nothing to show yet."""

    agent: str
    name: str | None
    state: str
    since: float | None  # event time the current state began
    queues: list[str]
    channel: str
    calls_handled_today: int
    handle_seconds_today: float
    missed_offers_today: int
    missed_in_a_row: int  # missed offers since the agent last changed state
    flagged: bool  # the run reached CXPULSE_MISSED_OFFERS_IN_A_ROW while available
    occupancy_1h: float | None  # (busy + wrap-up) ÷ logged-in time over the last hour

    @property
    def mean_handle_seconds(self) -> float | None:
        return self.handle_seconds_today / self.calls_handled_today if self.calls_handled_today else None

    def document(self, now: float) -> JsonObject:
        doc = self._asdict()
        doc["seconds_in_state"] = None if self.since is None else max(0.0, now - self.since)
        doc["mean_handle_seconds_today"] = self.mean_handle_seconds
        return doc


def occupancy(state: State, now: float) -> float | None:
    """Occupancy over ``[now − 1 h, now]``: the spells that ended in it and the current one, each
    clipped to the hour; ``None`` when the agent was not logged in at all in that hour."""
    start = now - RECENT_SECONDS
    occupied = logged_in = 0.0
    spells = state.get("recent", [])  # offline time is never a spell: each is logged-in time
    current = state["state"]
    if current != "offline" and state["since"] is not None:
        spells = [*spells, [current, state["since"], now]]
    for name, began, ended in spells:
        seconds = min(ended, now) - (began if began > start else start)
        if seconds > 0:
            logged_in += seconds
            if name in OCCUPIED:
                occupied += seconds
    return occupied / logged_in if logged_in > 0 else None


def agent_row(agent_id: str, state: State, now: float, policy: Policy, names: Mapping[str, str]) -> AgentRow:
    today = state.get("today") or {}
    # The day is the one that holds ``now`` in the zone of the queue it was counted for.
    if today and today["start"] < policy.day_start(today["queue"], now):
        today = {}
    return AgentRow(
        agent_id,
        names.get(agent_id),
        state["state"],
        state["since"],
        list(state["queues"]),
        state["channel"],
        int(today.get("calls_handled", 0)),
        float(today.get("handle_seconds", 0.0)),
        int(today.get("missed_offers", 0)),
        int(state.get("missed", 0)) if state["state"] == "available" else 0,
        state.get("flagged") is not None,
        occupancy(state, now),
    )


def agent_rows(
    states: Iterable[tuple[str, State]], now: float, policy: Policy, names: Mapping[str, str]
) -> list[AgentRow]:
    """The agents to show, by id: logged in now, logged in during the last hour, or with work today."""
    rows = []
    for agent_id, state in states:
        row = agent_row(agent_id, state, now, policy, names)
        if (
            row.state != "offline"
            or row.calls_handled_today
            or row.missed_offers_today
            or row.occupancy_1h is not None
        ):
            rows.append(row)
    rows.sort(key=lambda row: row.agent)
    return rows


def agents_document(rows: list[AgentRow], now: float) -> JsonObject:
    """The ``/agents`` JSON: the time it was taken and one object per agent."""
    return {"at": now, "agents": [row.document(now) for row in rows]}
