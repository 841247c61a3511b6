"""The KPI catalogue: every exported KPI series is declared here, once.

The entity logic emits facts under these keys, the aggregation counts them, and the
exporter turns each declaration into Prometheus series. Adding a KPI means adding its
declaration here and the rule that emits its fact; nothing else changes. Names follow
Prometheus conventions: base units (seconds, ratios 0..1), ``_total`` on counters only,
and never an entity id as a label value.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "cxpulse_"
LABELS = ("queue", "channel")

# Rolling windows read from the event-time buckets, with their Prometheus label value.
WINDOWS: dict[str, int] = {"5m": 300, "15m": 900, "1h": 3600}
LONGEST_WINDOW = max(WINDOWS.values())


@dataclass(frozen=True, slots=True)
class Counter:
    """A monotonic count of facts; exported as ``<name>_total`` and per window."""

    key: str
    help: str

    @property
    def name(self) -> str:
        return PREFIX + self.key


@dataclass(frozen=True, slots=True)
class Histogram:
    """A distribution of durations; exported as a histogram and as a windowed mean."""

    key: str
    help: str
    buckets: tuple[float, ...]
    mean_help: str

    @property
    def name(self) -> str:
        return PREFIX + self.key

    @property
    def mean_name(self) -> str:
        base = self.key.removesuffix("_seconds")
        return f"{PREFIX}{base}_mean_seconds"


@dataclass(frozen=True, slots=True)
class Ratio:
    """numerator ÷ denominator over a window, both counter keys; absent when the denominator is 0."""

    key: str
    help: str
    numerator: str
    denominator: str

    @property
    def name(self) -> str:
        return PREFIX + self.key


# Seconds to a day (and two) for written channels, where replies take hours.
TICKET_DURATION_BUCKETS = (
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    43200.0,
    86400.0,
    172800.0,
)
# Seconds to half an hour for callers waiting in a queue.
CALL_WAIT_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0)

COUNTERS: tuple[Counter, ...] = (
    Counter("tickets_created", "Tickets created, by the queue and channel they were created in."),
    Counter("tickets_escalated", "Tickets escalated (each ticket counts once, at its first escalation)."),
    Counter("ticket_first_responses", "Tickets that received their first agent reply."),
    Counter("calls_offered", "Calls that entered a queue."),
    Counter("calls_answered", "Calls answered by an agent."),
    Counter("calls_abandoned", "Calls where the caller hung up before being answered."),
)

HISTOGRAMS: tuple[Histogram, ...] = (
    Histogram(
        "first_response_seconds",
        "Time from ticket creation to the first agent reply (bot and customer replies excluded).",
        TICKET_DURATION_BUCKETS,
        "Mean first response time of first replies made in the window.",
    ),
    Histogram(
        "call_wait_seconds",
        "Time answered calls waited in the queue (speed of answer).",
        CALL_WAIT_BUCKETS,
        "Mean time in queue of calls answered in the window (average speed of answer).",
    ),
)

RATIOS: tuple[Ratio, ...] = (
    Ratio(
        "ticket_escalation_ratio",
        "Escalations ÷ tickets created, both counted in the window.",
        "tickets_escalated",
        "tickets_created",
    ),
    Ratio(
        "call_abandonment_ratio",
        "Abandoned calls ÷ calls offered, both counted in the window.",
        "calls_abandoned",
        "calls_offered",
    ),
)

COUNTER_KEYS = frozenset(c.key for c in COUNTERS)
HISTOGRAM_BY_KEY = {h.key: h for h in HISTOGRAMS}


def window_count_name(counter: Counter) -> str:
    """Gauge holding a counter's increase over a rolling window."""
    return f"{PREFIX}window_{counter.key}"
