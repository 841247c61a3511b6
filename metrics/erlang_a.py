"""Erlang A (Palm's queue): staffing when callers who wait too long hang up.

Erlang C assumes every caller waits as long as it takes, so where callers abandon it asks for more
agents than the queue needs: the callers who give up shorten the wait of those behind them. Erlang
A adds a patience to each caller (exponential, mean ``patience_seconds``): a birth–death chain in
the number of callers in the system, up at the arrival rate λ in every state, down at
min(n, c)·μ + max(n − c, 0)·θ (μ = 1 ÷ handle time, θ = 1 ÷ mean patience). Its stationary
distribution is solved numerically, truncated where the tail is below 1e-15 of the mass; with
θ > 0 the chain is stable for any number of agents, so no "cannot keep up" case exists.

Service level here is the share of *all* callers answered within the threshold: a caller who
hangs up, before or after the threshold, did not meet it (the convention of cxpulse's call SLO,
docs/kpis.md, where abandons after the short-abandon threshold count as errors; the model has
no short abandons). It needs the waiting time of a caller who finds ``q`` callers ahead: q + 1
steps, each at rate c·μ + j·θ (j ahead: someone served or someone ahead giving up), raced by its
own patience; solved by uniformisation of that small chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

# Relative mass below which the chain's tail is cut, and the rescaling bound that keeps the
# unnormalised probabilities of hundreds of agents within floating point.
TAIL = 1e-15
_RESCALE = 1e200


@dataclass(frozen=True)
class ErlangA:
    """What ``agents`` give a queue offered ``calls_per_second`` with this handle time and patience."""

    agents: int
    calls_per_second: float
    handle_seconds: float
    patience_seconds: float

    @cached_property
    def _states(self) -> list[float]:
        """p(n), the stationary probability of n callers in the system (served or waiting)."""
        lam, mu, theta, c = (
            self.calls_per_second,
            1 / self.handle_seconds,
            1 / self.patience_seconds,
            self.agents,
        )
        terms = [1.0]
        total, n = 1.0, 0
        while True:
            n += 1
            down = min(n, c) * mu + max(n - c, 0) * theta
            term = terms[-1] * lam / down
            terms.append(term)
            total += term
            if term > _RESCALE:
                terms = [t / _RESCALE for t in terms]
                total /= _RESCALE
            if n > c and down > lam and term < TAIL * total:
                break
        return [t / total for t in terms]

    @property
    def waiting_probability(self) -> float:
        """Share of callers who find every agent busy (arrivals see the stationary state)."""
        return sum(self._states[self.agents :])

    @cached_property
    def mean_queue(self) -> float:
        """Mean number of callers waiting."""
        c = self.agents
        return sum((n - c) * p for n, p in enumerate(self._states) if n > c)

    @property
    def abandon_probability(self) -> float:
        """Share of callers who hang up: the queue abandons at θ per waiting caller (θ·E[queue] ÷ λ)."""
        if self.calls_per_second <= 0:
            return 0.0
        return self.mean_queue / self.patience_seconds / self.calls_per_second

    @property
    def mean_wait_seconds(self) -> float:
        """Mean time in queue of all callers, answered or not (Little: E[queue] ÷ λ)."""
        if self.calls_per_second <= 0:
            return 0.0
        return self.mean_queue / self.calls_per_second

    @property
    def occupancy(self) -> float:
        """Share of the agents' time spent on calls: E[busy agents] ÷ agents."""
        if not self.agents:
            return 1.0
        return sum(min(n, self.agents) * p for n, p in enumerate(self._states)) / self.agents

    def service_level(self, threshold_seconds: float) -> float:
        """Share of all callers answered within ``threshold_seconds`` (an abandon never meets it)."""
        c, states = self.agents, self._states
        met = sum(states[:c])  # an agent free on arrival: answered at once
        ahead = len(states) - c  # callers a newcomer may find waiting: 0 .. ahead-1
        if ahead <= 0:
            return met
        mu, theta = 1 / self.handle_seconds, 1 / self.patience_seconds
        # With j ahead, the rate at which one of them goes (j = 0: this caller is served).
        step = [c * mu + j * theta for j in range(ahead)]
        rate = step[-1] + theta  # uniformisation rate: every state's total exit rate is at most this
        # Probability mass of "j ahead, still waiting", for the mixture of arrivals that wait.
        mass = states[c:]
        stay = [1 - (s + theta) / rate for s in step]  # per jump: neither served nor hung up
        answered = 0.0
        reach = rate * threshold_seconds
        last = math.ceil(reach + 40 * math.sqrt(reach) + 50)  # Poisson(reach) has no mass left past it
        log_reach = math.log(reach) if reach > 0 else -math.inf
        done = 0.0  # answered within k uniformised jumps
        for k in range(last + 1):
            # Poisson(k; reach) in logs: exp(-reach) alone underflows past ~745.
            weight = math.exp(k * log_reach - reach - math.lgamma(k + 1)) if reach > 0 else float(k == 0)
            answered += weight * done
            if k > 2 * reach + 1 and weight < 1e-18:
                break  # past twice the mean, the rest of the weights sum to under twice this one
            # One jump: from j, down w.p. step[j]/rate (j = 0: answered), abandon w.p. θ/rate, else stay.
            down = [m * s / rate for m, s in zip(mass, step, strict=True)]
            done += down[0]
            down.append(0.0)  # nobody comes down from beyond the last place
            mass = [m * st + d for m, st, d in zip(mass, stay, down[1:], strict=True)]
        return met + answered


def agents_to_schedule(needed: int, shrinkage: float) -> int:
    """Agents to put on the rota so ``needed`` are on the phones when ``shrinkage`` of paid time is not."""
    if not 0 <= shrinkage < 1:
        raise ValueError(f"shrinkage is a share of paid time, 0 ≤ s < 1; got {shrinkage}")
    return math.ceil(needed / (1 - shrinkage) - 1e-9)


def required_agents_a(
    calls_per_second: float,
    handle_seconds: float,
    patience_seconds: float,
    target_level: float,
    threshold_seconds: float,
    max_occupancy: float = 1.0,
    limit: int = 10_000,
    at_least: int = 1,
    at_most: int | None = None,
) -> ErlangA:
    """The fewest agents meeting the service-level target without exceeding ``max_occupancy``.

    ``at_least`` and ``at_most`` bound the answer where it is known to lie between them (more
    calls, or longer calls, never need fewer agents): the search starts at the lower bound, and
    stops short of solving the upper one."""
    agents = max(at_least, 1, math.ceil(calls_per_second * handle_seconds / max_occupancy - 1e-9))
    if at_most is not None:
        limit = min(limit, at_most)
    while agents < limit:
        queue = ErlangA(agents, calls_per_second, handle_seconds, patience_seconds)
        if queue.occupancy <= max_occupancy and queue.service_level(threshold_seconds) >= target_level:
            return queue
        agents += 1
    return ErlangA(limit, calls_per_second, handle_seconds, patience_seconds)


def estimate_patience(abandoned: float, seconds_waited: float) -> float | None:
    """Mean patience (seconds) from a queue's own calls: every second any caller waited, answered
    or not, over the callers who hung up (the maximum-likelihood estimate for exponential
    patience: a caller answered after 40 s showed 40 s of patience without running out).
    None when nobody hung up: patience is then beyond what the queue has shown."""
    if abandoned <= 0:
        return None
    return seconds_waited / abandoned


@dataclass(frozen=True)
class IntervalStaffing:
    """What one forecast interval needs: agents on the phones, and on the rota after shrinkage."""

    start: float
    calls: float
    needed: int
    scheduled: int
    service_level: float
    abandon_probability: float


def staffing_plan(
    forecast: list[tuple[float, float]],
    interval_seconds: float,
    handle_seconds: float,
    patience_seconds: float,
    target_level: float,
    threshold_seconds: float,
    max_occupancy: float = 1.0,
    shrinkage: float = 0.0,
) -> list[IntervalStaffing]:
    """Erlang A staffing for each ``(start, calls)`` of a forecast: the fewest agents meeting the
    target within the occupancy cap, and the rota that leaves them on the phones."""
    plan = []
    for start, calls in forecast:
        if calls <= 0:
            plan.append(IntervalStaffing(start, calls, 0, 0, 1.0, 0.0))
            continue
        queue = required_agents_a(
            calls / interval_seconds,
            handle_seconds,
            patience_seconds,
            target_level,
            threshold_seconds,
            max_occupancy,
        )
        plan.append(
            IntervalStaffing(
                start,
                calls,
                queue.agents,
                agents_to_schedule(queue.agents, shrinkage),
                queue.service_level(threshold_seconds),
                queue.abandon_probability,
            )
        )
    return plan
