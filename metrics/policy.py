"""Thresholds and costs the KPI rules depend on: defaults, with per-queue overrides.

Contact centres set targets per queue (a chat queue promises a reply in minutes, an email
queue in hours), so every threshold here can differ by queue. Plain data: the worker
builds it from settings, tests build it directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from metrics.business_hours import UTC, Calendar, day_start
from metrics.documents import JsonView

SECONDS_PER_DAY = 86400.0
DEFAULT_PRIORITIES = ("urgent", "high", "medium", "normal", "low")
OTHER_PRIORITY = "other"


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """One queue's targets and limits. The defaults here are cxpulse's only defaults: settings,
    the exported target gauges, and through them the alert rules, dashboards and ``cxpulse top``
    all start from them."""

    first_response_target_seconds: float = 3600.0
    service_level_seconds: float = 20.0
    short_abandon_seconds: float = 5.0
    hourly_cost: float = 30.0  # cost of one agent-hour in this queue, in the centre's currency
    service_level_target: float = 0.8  # share of calls to answer within service_level_seconds
    max_occupancy: float = 0.85  # the busiest agents may be planned to be, for staffing
    # Alert limits: shares of calls abandoned, of new tickets escalated, and of first replies
    # later than their target, above which a queue is in trouble.
    abandonment_limit: float = 0.10
    escalation_limit: float = 0.15
    first_response_breach_limit: float = 0.20
    # Share of first replies to send within first_response_target_seconds: the objective of the
    # first-response SLO (the calls' is service_level_target).
    first_response_objective: float = 0.9
    # Alerts about the floor wait this long after the queue opens: the first calls of the
    # morning meet agents still logging in, and the 15-minute windows start half empty.
    open_grace_seconds: float = 900.0
    # Share of paid time agents are not on the phones (breaks, training, meetings): the rota for a
    # forecast interval is its required agents ÷ (1 − shrinkage).
    shrinkage: float = 0.3
    # Hour of the local day at which "today so far" starts again (0: midnight; 6.5: 06:30), in
    # the zone of the queue's calendar (UTC without one); a whole number of quarter-hours.
    day_start_hour: float = 0.0
    calendar: Calendar | None = None  # opening hours; None: open around the clock

    @property
    def zone(self) -> ZoneInfo:
        """The queue's time zone: its calendar's, else UTC."""
        return self.calendar.zone if self.calendar is not None else UTC

    def day_start(self, at: float) -> float:
        """When the queue's day holding ``at`` began (its local midnight, or its reset hour)."""
        return day_start(self.zone, round(self.day_start_hour * 3600), at)


DEFAULTS = QueuePolicy()


@dataclass(frozen=True, slots=True)
class ForecastPolicy:
    """How far ahead and from how much history arrivals are forecast (docs/kpis.md)."""

    interval_seconds: int = 1800  # 15 or 30 minutes, aligned to the queue's local midnight
    weeks: int = 4  # weeks of history each forecast averages
    intervals: int = 16  # intervals exported ahead, the current one included

    @property
    def history_days(self) -> int:
        """Days of arrival counts kept: the weeks averaged, and today."""
        return self.weeks * 7 + 1


FORECAST_DEFAULTS = ForecastPolicy()


@dataclass(frozen=True, slots=True)
class Policy:
    default: QueuePolicy = QueuePolicy()
    queues: Mapping[str, QueuePolicy] = field(default_factory=dict)
    repeat_contact_days: float = 7.0
    conversion_days: float = 7.0
    customer_base: int = 0  # active customers before the first lifecycle event cxpulse sees
    forecast: ForecastPolicy = ForecastPolicy()
    # Ticket priorities counted apart (label values: these and "other"), and the first-
    # response target of those that have their own (else the queue's), as SLA policies set them.
    priorities: tuple[str, ...] = DEFAULT_PRIORITIES
    priority_targets: Mapping[str, float] = field(default_factory=dict)
    missed_offers_in_a_row: int = 3  # an available agent missing this many offers in a row is flagged

    def for_queue(self, queue: str) -> QueuePolicy:
        return self.queues.get(queue, self.default)

    def priority(self, value: str | None) -> str | None:
        """The label a ticket's priority is counted under: one of the configured priorities, or
        "other" for any other value (never the producer's free text); None for a ticket without
        one, or with no priorities configured (not counted by priority)."""
        if value is None or not self.priorities:
            return None
        value = value.strip().lower()
        return value if value in self.priorities else OTHER_PRIORITY

    def first_response_target(self, rules: QueuePolicy, priority: str | None) -> float:
        """The first-response target of a ticket of ``priority`` (its label) in a queue."""
        if priority is None:
            return rules.first_response_target_seconds
        return self.priority_targets.get(priority, rules.first_response_target_seconds)

    def day_start(self, queue: str, at: float) -> float:
        """When ``queue``'s day holding ``at`` began: what its "today so far" counts from."""
        return self.queues.get(queue, self.default).day_start(at)

    @staticmethod
    def build(
        default: QueuePolicy,
        overrides: Mapping[str, JsonView],
        calendars: Mapping[str, Calendar] | None = None,
        **rest: Any,
    ) -> Policy:
        """Per-queue overrides name only what differs from the default; calendar ``*`` is every
        queue's without one of its own."""
        calendars = calendars or {}
        default = replace(default, calendar=calendars.get("*", default.calendar))
        queues = {}
        for name in {*overrides, *calendars} - {"*"}:
            queue = replace(default, **overrides.get(name, {}))
            queues[name] = replace(queue, calendar=calendars.get(name, queue.calendar))
        return Policy(default=default, queues=queues, **rest)
