"""Contact-centre traffic: tickets, calls and agents with realistic timing, for the demo and benchmarks.

:class:`Traffic` is a deterministic (seeded) generator of events in event-time order;
:func:`run_live` paces it against the wall clock and produces it to Kafka, which is what
``cxpulse simulate`` and the demo run. Arrivals follow a Poisson process whose rate
swings slowly and jumps in short bursts (a mailing goes out, a service goes down). Each queue
has a roster of phone agents sized for its mean call load, who log in, take calls (busy, then
wrap-up), wait for the next one, go on breaks and end their shifts; their state changes come
from a random generator of their own, so the contacts are the same with or without them. So do
the holds and transfers of answered calls and the tickets' priorities; callbacks (a caller still
waiting after a minute taking a callback offer) replace answers and abandons, so they are off
unless ``callback_share`` asks for them.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from metrics.documents import JsonObject
from metrics.policy import DEFAULTS
from metrics.staffing import erlang_c, required_agents
from streams.simulator.centre_profiles import PROFILES, CentreProfile
from streams.simulator.incidents import ESCALATED_SHARE, SLOWER, Incident, Script

DEMO = PROFILES["demo"]
QUEUES = DEMO.queues
TICKET_CHANNELS = tuple(DEMO.ticket_channels)
# Median seconds to first agent reply, per channel: chat is live, email is slow.
FIRST_REPLY_MEDIAN = {"chat": 40.0, "social": 240.0, "web": 900.0, "email": 3600.0}
HANDLE_MEDIAN, HANDLE_SIGMA = 240.0, 0.6  # seconds on a call (log-normal)
WRAP_UP_MEDIAN, WRAP_UP_SIGMA = 30.0, 0.5  # seconds of after-call work (log-normal)
# The mean of a call and its wrap-up (a log-normal's mean is its median × e^(σ²/2)).
MEAN_CALL_CYCLE = HANDLE_MEDIAN * math.exp(HANDLE_SIGMA**2 / 2) + WRAP_UP_MEDIAN * math.exp(
    WRAP_UP_SIGMA**2 / 2
)
SHIFT_SECONDS = 8 * 3600.0
PATIENCE_MEAN = 300.0  # seconds a caller holds on before hanging up, on average (exponential)
HOLD_SHARE = 0.2  # answered calls with a hold
TRANSFER_SHARE = 0.06  # answered calls transferred on at their end
CALLBACK_OFFER_SECONDS = 60.0  # a caller still waiting then is offered a callback
RAISED_SHARE = 0.03  # tickets raised to urgent soon after they were opened
MISSED_SHARE = 0.04  # answered calls that first rang another agent, who missed the offer
RING_SECONDS = (1.0, 6.0)  # from an agent free at arrival to the call being answered
# When the calls outgrow the agents the queue grows until enough callers give up: waits are then
# minutes long (exponential with this mean) and most callers hang up.
OVERLOAD_WAIT_MEAN = 600.0


@dataclass(order=True)
class _Pending:
    at: float
    seq: int
    family: str = field(compare=False)
    event: JsonObject = field(compare=False)


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Traffic:
    """Seeded stream of ``(family, key, event)`` in event-time order, starting at ``start``.

    ``profile`` names the centre (queues, channels, opening hours); ``rate`` overrides its mean
    new contacts per second while open; ``incidents`` script what goes wrong, where and when
    (:mod:`streams.simulator.incidents`).
    """

    def __init__(
        self,
        start: float,
        rate: float | None = None,
        seed: int = 7,
        escalation_share: float = 0.08,
        staffing: float = 1.1,
        profile: CentreProfile = DEMO,
        incidents: tuple[Incident, ...] = (),
        callback_share: float = 0.0,
        holds_and_transfers: bool = True,  # and ticket priorities
    ) -> None:
        self.rng = random.Random(seed)
        self.script = Script(incidents)
        self.start = start
        self.clock = start  # the time of the latest event yielded
        self.profile = profile
        self.rate = profile.rate if rate is None else rate
        self.escalation_share = escalation_share
        self.call_share = profile.call_share
        self._queues = profile.queues
        self._channels = tuple(profile.ticket_channels)
        self._channel_weights = tuple(profile.ticket_channels.values())
        self._heap: list[_Pending] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._next_arrival = start
        self._burst_until = start
        self._burst_factor = 1.0
        self._customers: list[str] = []
        self._agent_rng = random.Random(seed + 1)
        self._service_rng = random.Random(seed + 2)  # holds, transfers, callbacks
        self._service_ids = itertools.count(1)  # their event ids, apart from the contacts' numbering
        self.callback_share = callback_share
        self.holds_and_transfers = holds_and_transfers
        self._roster(staffing)

    def _agents_needed(self, erlangs: float) -> int:
        """Agents for ``erlangs`` of call work at the default service-level target and occupancy
        cap, times the ``staffing`` headroom (at least one)."""
        needed = required_agents(
            self._staffing * erlangs,
            MEAN_CALL_CYCLE,
            DEFAULTS.service_level_target,
            DEFAULTS.service_level_seconds,
            DEFAULTS.max_occupancy,
        )
        return max(1, needed.agents)

    def _planned(self, at: float) -> int:
        """Agents per queue the plan puts on the floor at ``at``: none while closed; with opening
        hours, enough for each hour's expected calls (the profile's curve at the half hour);
        around the clock, enough for the swing's top."""
        if self.profile.calendar is None:
            return self._all_day
        if not self.profile.is_open(at):
            return 0
        hour = at - at % 3600
        found = self._plan.get(hour)
        if found is None:
            middle = hour + 1800 if self.profile.is_open(hour + 1800) else at
            load = self.rate * self.profile.intensity(middle) * self.call_share / len(self._queues)
            found = self._plan[hour] = self._agents_needed(load * MEAN_CALL_CYCLE)
        return found

    def _roster(self, staffing: float) -> None:
        """Agents per queue, numbered: agent i works whenever the plan needs more than i agents
        (:meth:`_planned`), so the floor follows the day's curve as a scheduled centre's does."""
        self._staffing = staffing
        self._plan: dict[float, int] = {}
        calls_per_second = self.rate * self.call_share / len(self._queues)
        peak = self._agents_needed(calls_per_second * self.profile.peak_intensity() * MEAN_CALL_CYCLE)
        self._all_day = peak  # around the clock, the plan is the swing's top all day
        size = max(peak, 2)
        mean = self._agents_needed(calls_per_second * MEAN_CALL_CYCLE)
        occupancy = min(0.95, calls_per_second * MEAN_CALL_CYCLE / mean)
        self._mean_idle = MEAN_CALL_CYCLE * (1 - occupancy) / occupancy  # between two calls
        # Agents who stay on the floor when a queue is understaffed (see _leaves_for_incident).
        self._stays = {q: tuple(_stays_on_floor(f"agent-{q}-{i}") for i in range(size)) for q in self._queues}
        for queue in self._queues:
            for i in range(size):
                agent = {"agent_id": f"agent-{queue}-{i}", "queues": [queue], "channel": "phone"}
                self._log_in(agent, self.start, spread=60.0)

    @staticmethod
    def _seat(agent: JsonObject) -> int:
        return int(agent["agent_id"].rsplit("-", 1)[1].rstrip("b"))

    def _on_shift(self, agent: JsonObject, at: float) -> bool:
        return self._seat(agent) < self._planned(at)

    def _log_in(self, agent: JsonObject, at: float, spread: float = 600.0) -> None:
        """The agent logs in (available) at the first moment from ``at`` the plan needs them,
        within ``spread`` seconds of it; never, if that is more than a fortnight away."""
        moment = at
        for _ in range(14 * 24 + 1):
            if self._on_shift(agent, moment):
                self._push(
                    moment + self._agent_rng.uniform(0, spread),
                    "agents",
                    self._event(agent, "agent.state_changed", state="available"),
                )
                return
            opens = self.profile.next_opening(moment)
            moment = opens if opens > moment else moment - moment % 3600 + 3600
            if not math.isfinite(moment):
                return

    def _next_agent_state(self, event: JsonObject, at: float) -> None:
        """After each change, the agent's next one: available → busy → wrap_up → available, with
        breaks now and then, and the end of the shift (a fresh agent takes the seat); when the
        plan no longer needs the agent (closing time, a quieter hour) they log off instead of
        taking the next call, until it needs them again."""
        rng, state = self._agent_rng, event["state"]
        event_at = at
        agent = {k: event[k] for k in ("agent_id", "queues", "channel")}
        if state == "available":
            nxt, after = ("away", rng.uniform(5, 15) * 60) if rng.random() < 0.03 else ("busy", 0.0)
            at += rng.expovariate(1 / self._mean_idle)
            if nxt == "away":
                self._push(at, "agents", self._event(agent, "agent.state_changed", state="away"))
                at += after
                nxt = "available"
        elif state == "busy":
            at, nxt = at + rng.lognormvariate(math.log(HANDLE_MEDIAN), HANDLE_SIGMA), "wrap_up"
        elif state == "wrap_up":
            at, nxt = at + rng.lognormvariate(math.log(WRAP_UP_MEDIAN), WRAP_UP_SIGMA), "available"
            # Around the clock, shifts end at staggered times: a third of the roster after each
            # third of a shift (with opening hours, the shift is the open day).
            if (
                self.profile.calendar is None
                and at - self.start > SHIFT_SECONDS * (1 + sum(map(ord, agent["agent_id"])) % 3) / 3
            ):
                self._push(at, "agents", self._event(agent, "agent.state_changed", state="offline"))
                agent["agent_id"] += "b"  # the next shift's agent logs in a minute later
                at += 60
        else:
            return
        if self._leaves_for_incident(agent, event_at, at):
            return
        if nxt != "wrap_up" and not self._on_shift(agent, at):
            # Off shift (the floor closes, or the plan needs fewer agents this hour): the agent
            # logs off after this call and back on when the plan needs them again.
            if self.profile.calendar is not None:
                closes = self.profile.calendar.closes_at(event_at)
                if closes is not None and at >= closes:
                    at = closes + rng.uniform(0, 300)
            self._push(at, "agents", self._event(agent, "agent.state_changed", state="offline"))
            self._log_in(agent, at + 1)
            return
        self._push(at, "agents", self._event(agent, "agent.state_changed", state=nxt))

    def _leaves_for_incident(self, agent: JsonObject, now: float, due: float) -> bool:
        """Whether a scripted incident takes the agent off the floor before its next change at
        ``due``: away until the incident ends (three agents in four, when understaffed), or
        logged off until the next opening (all of them, when they leave early)."""
        queue = agent["queues"][0]
        incident = self.script.next_of(("understaffed", "agents_leave_early"), queue, now, due + 1e-6)
        if incident is None or due < incident.start:
            return False
        if incident.kind == "understaffed" and _stays_on_floor(agent["agent_id"]):
            return False
        leave = max(incident.start, now + 1.0)
        rng = self._agent_rng
        if incident.kind == "understaffed":
            self._push(leave, "agents", self._event(agent, "agent.state_changed", state="away"))
            back = incident.end + rng.uniform(0, 120)
            self._push(back, "agents", self._event(agent, "agent.state_changed", state="available"))
        else:
            self._push(leave, "agents", self._event(agent, "agent.state_changed", state="offline"))
            self._log_in(agent, self.profile.next_opening(incident.end + 1800))
        return True

    def _rate_at(self, t: float) -> float:
        """The profile's curve (or, around the clock, a ten-minute swing) plus occasional bursts
        of three to five times the rate."""
        if self.profile.calendar is None:
            swing = 1.0 + 0.4 * math.sin((t - self.start) / 600.0 * 2 * math.pi)
        else:
            swing = self.profile.intensity(t)
        if t >= self._burst_until and self.rng.random() < 0.002:
            self._burst_until = t + self.rng.uniform(20, 60)
            self._burst_factor = self.rng.uniform(3, 5)
        burst = self._burst_factor if t < self._burst_until else 1.0
        return self.rate * swing * burst

    def _push(self, at: float, family: str, event: JsonObject) -> None:
        event["occurred_at"] = _rfc3339(at)
        heapq.heappush(self._heap, _Pending(at, next(self._seq), family, event))

    def _customer(self) -> str:
        """A returning customer (most contacts) or a brand-new one, who joins first."""
        rng = self.rng
        if self._customers and rng.random() < 0.7:
            return rng.choice(self._customers)
        customer = f"cust-{next(self._ids)}"
        self._customers.append(customer)
        if len(self._customers) > 5000:
            self._customers.pop(0)
        return customer

    def _working(self, at: float) -> float:
        """When an agent acts on something due at ``at``: then, or soon after the next opening."""
        if self.profile.is_open(at):
            return at
        return self.profile.next_opening(at) + self.rng.uniform(60, 1800)

    def _base(self, queue: str, channel: str) -> JsonObject:
        return {"queue": queue, "channel": channel, "customer_id": self._customer()}

    def _lifecycle(self, t: float) -> None:
        """Sign-ups, cancellations, and purchases that sometimes follow a contact."""
        rng = self.rng
        if rng.random() < 0.5:
            customer = f"cust-{next(self._ids)}"
            self._customers.append(customer)
            self._push(t, "customers", self._event({"customer_id": customer}, "customer.joined"))
        elif self._customers and rng.random() < 0.3:
            customer = rng.choice(self._customers)
            self._push(t, "customers", self._event({"customer_id": customer}, "customer.churned"))
        elif self._customers:
            customer = rng.choice(self._customers)
            self._push(t, "customers", self._event({"customer_id": customer}, "customer.purchased"))

    def _survey(self, at: float, base: JsonObject, subject: dict[str, str]) -> None:
        """About a third of customers answer a survey after the contact closes."""
        rng = self.rng
        if rng.random() >= 0.35:
            return
        kind = rng.choices(("csat", "nps", "ces"), weights=(6, 3, 2))[0]
        score = {
            "csat": rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 4, 5))[0],
            "nps": rng.choices(range(11), weights=(1, 1, 1, 1, 1, 2, 3, 4, 6, 6, 5))[0],
            "ces": rng.choices(range(1, 8), weights=(4, 5, 4, 3, 2, 1, 1))[0],
        }[kind]
        fields = {k: base[k] for k in ("queue", "channel", "customer_id")}
        self._push(
            at + rng.uniform(5, 120),
            "surveys",
            self._event({**fields, **subject}, "survey.submitted", survey=kind, score=score),
        )

    def _event(self, base: JsonObject, type_: str, **extra: Any) -> JsonObject:
        return {"event_id": f"ev-{next(self._ids)}", "type": type_, **base, **extra}

    def _new_ticket(self, t: float) -> None:
        rng = self.rng
        queue = rng.choice(self._queues)
        channel = rng.choices(self._channels, weights=self._channel_weights)[0]
        base = {"ticket_id": f"T-{next(self._ids)}", **self._base(queue, channel)}
        agent = f"agent-{rng.randrange(60)}"
        author = "agent" if rng.random() < 0.05 else "customer"
        tags = ["complaint"] if rng.random() < 0.06 else []
        priority = self._priority(t, base)
        self._push(t, "tickets", self._event(base, "ticket.created", author=author, tags=tags, **priority))
        if channel in ("chat", "web") and rng.random() < 0.4:
            self._push(t + rng.uniform(1, 5), "tickets", self._event(base, "ticket.replied", author="bot"))
        slower = SLOWER if self.script.active("slow_replies", queue, t) else 1.0
        reply_at = self._working(t + slower * rng.lognormvariate(math.log(FIRST_REPLY_MEDIAN[channel]), 0.8))
        self._push(reply_at, "tickets", self._event(base, "ticket.replied", author="agent", agent_id=agent))
        cursor = reply_at
        if rng.random() < 0.5:
            cursor += rng.lognormvariate(math.log(FIRST_REPLY_MEDIAN[channel]), 0.8)
            self._push(cursor, "tickets", self._event(base, "ticket.replied", author="customer"))
        surge = self.script.active("escalation_surge", queue, t)
        if rng.random() < (ESCALATED_SHARE if surge else self.escalation_share):
            # Most escalations happen early: triage routes the ticket to a second tier.
            self._push(
                self._working(t + rng.uniform(3, 40)),
                "tickets",
                self._event(base, "ticket.escalated", agent_id=agent),
            )
        cursor = self._working(cursor + rng.lognormvariate(math.log(FIRST_REPLY_MEDIAN[channel] * 2), 0.7))
        if rng.random() < 0.3:  # a follow-up reply before solving breaks first-contact resolution
            cursor = self._working(cursor + rng.uniform(30, 600))
            self._push(cursor, "tickets", self._event(base, "ticket.replied", author="agent", agent_id=agent))
        self._push(cursor, "tickets", self._event(base, "ticket.resolved", agent_id=agent))
        self._survey(cursor, base, {"ticket_id": base["ticket_id"]})
        if rng.random() < 0.08:
            reopened = cursor + rng.uniform(30, 900)
            self._push(reopened, "tickets", self._event(base, "ticket.reopened"))
            answer = self._working(reopened + rng.uniform(30, 600))
            self._push(answer, "tickets", self._event(base, "ticket.replied", author="agent", agent_id=agent))
            self._push(answer + 60, "tickets", self._event(base, "ticket.resolved", agent_id=agent))

    def _agents_on_floor(self, queue: str, t: float) -> int:
        planned = self._planned(t)
        if self.script.active("agents_leave_early", queue, t):
            return 0
        if self.script.active("understaffed", queue, t):
            return sum(self._stays[queue][:planned])
        return planned

    def _wait(self, queue: str, t: float) -> float:
        """How long a call arriving at ``t`` waits for an agent: by Erlang C for the agents on the
        floor and the queue's load at that moment (the profile's curve, without bursts)."""
        rng = self.rng
        agents = self._agents_on_floor(queue, t)
        if agents == 0:
            return math.inf
        calls_per_second = self.rate * self.profile.intensity(t) * self.call_share / len(self._queues)
        erlangs = calls_per_second * MEAN_CALL_CYCLE
        if agents <= erlangs:
            return rng.expovariate(1 / OVERLOAD_WAIT_MEAN)
        ring = rng.uniform(*RING_SECONDS)
        if rng.random() >= erlang_c(agents, erlangs):
            return ring
        return ring + rng.expovariate((agents - erlangs) / MEAN_CALL_CYCLE)

    def _new_call(self, t: float) -> None:
        rng = self.rng
        queue = rng.choice(self._queues)
        base = {"call_id": f"C-{next(self._ids)}", **self._base(queue, "phone")}
        self._push(t, "calls", self._event(base, "call.queued"))
        wait = self._wait(queue, t)
        patience = rng.expovariate(1 / PATIENCE_MEAN)
        offered = min(wait, patience) > CALLBACK_OFFER_SECONDS  # still waiting when offered a callback
        if offered and self.callback_share and self._service_rng.random() < self.callback_share:
            self._callback(t + CALLBACK_OFFER_SECONDS, base)
            return
        if patience < wait:
            self._push(t + patience, "calls", self._event(base, "call.abandoned"))
            return
        # One of the queue's own seats answers (the agents view shows their calls beside their
        # states), spread over all of them by the call's number without another random draw.
        seat = (rng.randrange(60) + 60 * int(base["call_id"][2:])) % len(self._stays[queue])
        agent = f"agent-{queue}-{seat}"
        self._push(t + wait, "calls", self._event(base, "call.answered", agent_id=agent))
        handle = rng.lognormvariate(math.log(240.0), 0.6)
        self._push(t + wait + handle, "calls", self._event(base, "call.ended", agent_id=agent))
        self._survey(t + wait + handle, base, {"call_id": base["call_id"]})
        if self.holds_and_transfers:
            self._service(t + wait, handle, base, agent)

    def _service(self, answered: float, handle: float, base: JsonObject, agent: str) -> None:
        """A hold in some answered calls, a transfer at the end of a few, and now and then an
        offer that rang another agent of the queue first, unanswered."""
        rng = self._service_rng
        if rng.random() < MISSED_SHARE:
            seat = rng.randrange(len(self._stays[base["queue"]]))
            miss = {
                "agent_id": f"agent-{base['queue']}-{seat}",
                "queue": base["queue"],
                "channel": base["channel"],
                "call_id": base["call_id"],
                "reason": "rejected" if rng.random() < 0.2 else "timeout",
            }
            rang = answered - rng.uniform(1, 3)
            self._push(rang, "agents", self._service_event(miss, "agent.offer_missed"))
        if rng.random() < HOLD_SHARE:
            held = answered + handle * rng.uniform(0.1, 0.5)
            resumed = min(held + rng.uniform(15, 120), answered + handle * 0.9)
            self._push(held, "calls", self._service_event(base, "call.held", agent_id=agent))
            self._push(resumed, "calls", self._service_event(base, "call.resumed", agent_id=agent))
        if rng.random() < TRANSFER_SHARE:
            kind = "consult" if rng.random() < 0.4 else "blind"
            at = answered + handle * 0.95
            transfer = self._service_event(base, "call.transferred", agent_id=agent, transfer=kind)
            self._push(at, "calls", transfer)

    def _priority(self, created: float, base: JsonObject) -> JsonObject:
        """A new ticket's priority, as help desks set it; now and then raised to urgent soon after."""
        if not self.holds_and_transfers:
            return {}
        rng = self._service_rng
        priority = rng.choices(("urgent", "high", "normal", "low"), weights=(5, 20, 60, 15))[0]
        if priority != "urgent" and rng.random() < RAISED_SHARE:
            raised = self._service_event(base, "ticket.priority_changed", priority="urgent")
            self._push(created + rng.uniform(30, 300), "tickets", raised)
        return {"priority": priority}

    def _callback(self, at: float, base: JsonObject) -> None:
        """The caller takes the callback offer; an agent calls back within the half-hour."""
        rng = self._service_rng
        self._push(at, "calls", self._service_event(base, "call.callback_requested"))
        back = at + rng.uniform(120, 1800)
        if not self.profile.is_open(back):
            back = self.profile.next_opening(back) + rng.uniform(60, 1800)
        agent = f"agent-{rng.randrange(60)}"
        self._push(back, "calls", self._service_event(base, "call.callback_handled", agent_id=agent))

    def _service_event(self, base: JsonObject, type_: str, **extra: Any) -> JsonObject:
        return {"event_id": f"ev-s{next(self._service_ids)}", "type": type_, **base, **extra}

    def until(self, end: float) -> Iterator[tuple[str, str, JsonObject]]:
        """Yield every event due before ``end``; call again with a later ``end`` to continue."""
        while True:
            while self._next_arrival < end:
                t = self._next_arrival
                roll = self.rng.random()
                if roll < 0.05:
                    self._lifecycle(t)
                elif roll < 0.05 + self.call_share and self.profile.is_open(t):
                    self._new_call(t)
                else:
                    self._new_ticket(t)
                rate = self._rate_at(t)
                if rate > 0:
                    self._next_arrival = t + self.rng.expovariate(rate)
                else:  # nothing arrives while closed: on to the next opening
                    self._next_arrival = max(self.profile.next_opening(t), t + 1.0)
            if not self._heap or self._heap[0].at >= end:
                return
            item = heapq.heappop(self._heap)
            self.clock = item.at
            if item.event["type"] == "agent.state_changed":
                self._next_agent_state(item.event, item.at)
            if self.script.active("feed_stopped", None, item.at):
                continue  # happened, but never reached cxpulse
            yield item.family, _key(item.family, item.event), item.event

    def take(self, n: int) -> list[tuple[str, str, JsonObject]]:
        """The first ``n`` events, however far into event time they reach (for benchmarks)."""
        out: list[tuple[str, str, JsonObject]] = []
        horizon = self.start
        while len(out) < n:
            horizon += 60.0
            out.extend(itertools.islice(self.until(horizon), n - len(out)))
        return out


def _stays_on_floor(agent_id: str) -> bool:
    """Whether the agent is one of the one in four who stay when a queue is understaffed."""
    return sum(map(ord, agent_id)) % 4 == 0


def _key(family: str, event: JsonObject) -> str:
    if family == "surveys":
        return event.get("ticket_id") or event["call_id"]
    keys = {"tickets": "ticket_id", "calls": "call_id", "customers": "customer_id", "agents": "agent_id"}
    return event[keys[family]]


def calls_a_week_ago(
    now: float, hours: float, rate: float | None, seed: int, profile: CentreProfile = DEMO
) -> Iterator[tuple[str, str, JsonObject]]:
    """Complete calls of the same hours a week ago, from the current half-hour on: history for
    the forecast to start from. Calls only, each with all its events, so nothing of last week is
    left waiting or open (tickets would stay open for days)."""
    start = now - now % 1800 - 7 * 86400
    end = start + hours * 3600
    arrived: set[str] = set()
    for family, key, event in Traffic(start=start, rate=rate, seed=seed, profile=profile).until(end + 3600):
        if family != "calls":
            continue
        if event["type"] == "call.queued" and datetime.fromisoformat(event["occurred_at"]).timestamp() < end:
            arrived.add(key)
        if key in arrived:  # ids of their own: the live traffic numbers its calls from 1 too
            ours = f"lastweek-{key}"
            yield family, ours, {**event, "call_id": ours, "event_id": f"lastweek-{event['event_id']}"}


def run_live(
    send: Callable[[str, bytes, bytes], None],
    rate: float | None,
    duration: float | None,
    seed: int,
    on_tick: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
    history_seconds: float = 0.0,
    profile: CentreProfile = DEMO,
    incidents: tuple[Incident, ...] = (),
    callback_share: float = 0.0,
) -> int:
    """Produce traffic in real time through ``send(family, key, value)``; return the event count.

    With ``history_seconds``, the centre has already been open that long: its past events
    are sent at once (in event-time order), so every window has data from the start.
    """
    start = time.time()
    traffic = Traffic(
        start=start - history_seconds,
        rate=rate,
        seed=seed,
        profile=profile,
        incidents=incidents,
        callback_share=callback_share,
    )
    sent = 0
    while (duration is None or time.time() - start < duration) and not (stop and stop.is_set()):
        now = time.time()
        for family, key, event in traffic.until(now):
            if stop is not None and stop.is_set():  # also in the middle of the history
                break
            send(family, key.encode(), orjson.dumps(event))
            sent += 1
        if on_tick is not None:
            on_tick(sent)
        time.sleep(0.2)
    return sent
