"""Scripted incidents for the simulator: what goes wrong, where and when, for alert backtests.

A backtest needs history with trouble at known times: the simulated centre runs as usual, and
inside each incident's window the affected queue behaves as it would on a bad day. Each kind
changes one thing the alerts are meant to notice; the rest of the traffic stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from streams.simulator.centre_profiles import CentreProfile

KINDS = {
    "escalation_surge": "half the queue's new tickets are escalated (a failed release, an outage)",
    "understaffed": "three in four of the queue's phone agents are away: callers wait and hang up",
    "slow_replies": "first replies to the queue's new tickets take six times as long",
    "agents_leave_early": "the queue's phone agents log off before closing while calls still come",
    "feed_stopped": "no event of the centre reaches cxpulse (a connector or the network is down)",
}
# How much longer first replies take inside a slow-replies incident.
SLOWER = 6.0
ESCALATED_SHARE = 0.5


@dataclass(frozen=True)
class Incident:
    kind: str
    start: float
    end: float
    queue: str | None = None  # None: the whole centre
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown incident kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.end <= self.start:
            raise ValueError(f"incident {self.label or self.kind} ends before it starts")

    def covers(self, queue: str | None, at: float) -> bool:
        return self.start <= at < self.end and (self.queue is None or self.queue == queue)


class Script:
    """The incidents of one simulated history, looked up by kind, queue and time."""

    def __init__(self, incidents: tuple[Incident, ...] = ()) -> None:
        self.incidents = incidents
        self._by_kind: dict[str, tuple[Incident, ...]] = {
            kind: tuple(i for i in incidents if i.kind == kind) for kind in KINDS
        }

    def active(self, kind: str, queue: str | None, at: float) -> Incident | None:
        for incident in self._by_kind[kind]:
            if incident.covers(queue, at):
                return incident
        return None

    def next_of(self, kinds: tuple[str, ...], queue: str, at: float, until: float) -> Incident | None:
        """The first incident of ``kinds`` for ``queue`` under way at or starting after ``at``,
        before ``until``."""
        found = [
            i
            for kind in kinds
            for i in self._by_kind[kind]
            if i.queue == queue and i.end > at and i.start < until
        ]
        return min(found, key=lambda i: i.start) if found else None


def _at(profile: CentreProfile, monday: datetime, day: int, hour: float) -> float:
    """Unix seconds of ``hour`` o'clock (queue time) on the ``day``-th day after ``monday``."""
    moment = monday + timedelta(days=day, hours=hour)
    return moment.timestamp()


def plan(profile: CentreProfile, start: float, weeks: int) -> tuple[Incident, ...]:
    """A fixed plan of incidents over ``weeks`` from the first Monday after ``start``: each kind
    at least once, a second escalation surge, an understaffed Saturday morning, all while the
    floor is open (needs a profile with a calendar and at least three queues)."""
    calendar = profile.calendar
    if calendar is None or len(profile.queues) < 3:
        raise ValueError("incidents are planned in opening hours: use a profile with a calendar")
    zone = calendar.zone
    first = datetime.fromtimestamp(start, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = first + timedelta(days=(7 - first.weekday()) % 7 or 7)
    q = profile.queues
    week = [
        # (day after Monday, local hour, minutes, kind, queue, label)
        (1, 10.0, 60, "escalation_surge", q[0], "escalation surge"),
        (3, 14.0, 45, "understaffed", q[1], "abandon spike: too few agents"),
        (9, 9.0, 180, "slow_replies", q[2], "first replies slowing down"),
        (12, 9.5, 120, "understaffed", q[0], "understaffed Saturday"),
        (14, 15.0, 30, "feed_stopped", None, "event feed stopped while open"),
        (18, 16.0, 120, "agents_leave_early", q[1], "agents logging off early"),
        (22, 9.5, 60, "escalation_surge", q[2], "second escalation surge"),
    ]
    incidents = []
    for day, hour, minutes, kind, queue, label in week:
        if day >= weeks * 7:
            continue
        begins = _at(profile, monday, day, hour)
        incidents.append(Incident(kind, begins, begins + minutes * 60, queue, label))
    return tuple(incidents)
