"""Erlang C staffing: how many agents a queue needs for its service-level target, and what fewer give.

Pure arithmetic over a queue's arrival rate and mean handle time (the KPI core's own figures),
so the live worker, the replay and the tests compute it alike. Erlang B comes from its
recursion, B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1)), and Erlang C from B: no factorial and no
power of A is ever formed, so hundreds of agents and erlangs stay exact in floating point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from metrics.policy import QueuePolicy


def erlang_b(agents: int, erlangs: float) -> float:
    """Probability that a call finds all ``agents`` busy in a loss system offered ``erlangs``."""
    blocked = 1.0
    for n in range(1, agents + 1):
        blocked = erlangs * blocked / (n + erlangs * blocked)
    return blocked


def erlang_c(agents: int, erlangs: float, blocked: float | None = None) -> float:
    """Probability that a call waits (all agents busy); 1 when the agents cannot keep up.

    ``blocked`` is Erlang B for these agents if the caller has it already.
    """
    if agents <= erlangs:
        return 1.0
    if blocked is None:
        blocked = erlang_b(agents, erlangs)
    return agents * blocked / (agents - erlangs * (1.0 - blocked))


@dataclass(frozen=True, slots=True)
class Staffing:
    """What ``agents`` give a queue offered ``erlangs`` of work with ``handle_seconds`` per call."""

    agents: int
    erlangs: float
    handle_seconds: float
    blocked: float | None = None  # Erlang B for these agents, when already known

    @property
    def waiting_probability(self) -> float:
        return erlang_c(self.agents, self.erlangs, self.blocked)

    def service_level(self, threshold_seconds: float) -> float:
        """Share of calls answered within ``threshold_seconds`` (0 when the queue grows without end)."""
        if self.agents <= self.erlangs:
            return 0.0
        spare = (self.agents - self.erlangs) / self.handle_seconds
        return 1.0 - self.waiting_probability * math.exp(-spare * threshold_seconds)

    @property
    def average_speed_of_answer(self) -> float:
        """Mean wait of all calls, in seconds (infinite when the queue grows without end)."""
        if self.agents <= self.erlangs:
            return math.inf
        return self.waiting_probability * self.handle_seconds / (self.agents - self.erlangs)

    @property
    def occupancy(self) -> float:
        return min(1.0, self.erlangs / self.agents) if self.agents else 1.0


def offered_erlangs(calls: float, period_seconds: float, handle_seconds: float) -> float:
    """Traffic intensity: calls per second times the mean handle time."""
    return calls / period_seconds * handle_seconds


def required_agents(
    erlangs: float,
    handle_seconds: float,
    target_level: float,
    threshold_seconds: float,
    max_occupancy: float = 1.0,
    limit: int = 10_000,
) -> Staffing:
    """The fewest agents meeting the service-level target without exceeding ``max_occupancy``."""
    if erlangs <= 0:
        return Staffing(0, 0.0, handle_seconds)
    agents = max(1, math.floor(erlangs) + 1, math.ceil(erlangs / max_occupancy))
    # Erlang B carried from one candidate to the next by its recursion: each step costs one update.
    blocked = erlang_b(agents, erlangs)
    while agents < limit:
        staffing = Staffing(agents, erlangs, handle_seconds, blocked)
        if staffing.service_level(threshold_seconds) >= target_level:
            return staffing
        agents += 1
        blocked = erlangs * blocked / (agents + erlangs * blocked)
    return Staffing(limit, erlangs, handle_seconds)


def live_staffing(
    calls_offered: float,
    period_seconds: float,
    handle_seconds: float,
    staffed: int | None,
    rules: QueuePolicy,
) -> dict[str, float]:
    """A queue's staffing now, under the keys of ``metrics.definitions.STAFFING``.

    ``staffed`` is the agents taking contacts now, None where no agent state was ever seen (then
    there is nothing to predict with, and no gap to report).
    """
    erlangs = offered_erlangs(calls_offered, period_seconds, handle_seconds)
    needed = required_agents(
        erlangs, handle_seconds, rules.service_level_target, rules.service_level_seconds, rules.max_occupancy
    )
    values = {"offered_load_erlangs": erlangs, "required_agents": float(needed.agents)}
    if staffed is not None:
        now = Staffing(staffed, erlangs, handle_seconds)
        values["predicted_service_level_ratio"] = now.service_level(rules.service_level_seconds)
        values["predicted_speed_of_answer_seconds"] = now.average_speed_of_answer
        values["staffing_gap_agents"] = float(needed.agents - staffed)
    return values
