"""The catalogue: every series cxpulse exports is declared here, once.

The entity rules emit facts under the keys of ``COUNTERS`` and ``HISTOGRAMS``, the
aggregation counts them, and the exporter turns each declaration into Prometheus series
(totals, windowed counts, ratios, means, quantiles). The other series — queue state, work
measures, the customer base, the label cap and the worker's own counters — are declared
as :class:`Series` below, and the exporter builds them from these declarations only.
Adding a KPI means adding its declaration here and the rule that emits its fact. Names follow
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
    """A distribution; exported as a histogram, a windowed mean and optional windowed quantiles."""

    key: str
    help: str
    buckets: tuple[float, ...]
    mean_key: str
    mean_help: str
    unit: str = "seconds"
    quantiles: tuple[float, ...] = ()
    business: bool = False  # observed, and exported, only for queues with a business-hours calendar

    @property
    def name(self) -> str:
        return PREFIX + self.key

    @property
    def mean_name(self) -> str:
        return PREFIX + self.mean_key

    def quantile_name(self, q: float) -> str:
        base = self.key.removesuffix(f"_{self.unit}")
        return f"{PREFIX}{base}_p{round(q * 100)}_{self.unit}"


@dataclass(frozen=True, slots=True)
class Series:
    """A series with no rule of its own: a level, a work measure, a customer-base figure, a worker count."""

    key: str
    help: str
    kind: str  # "counter", "gauge" or "histogram"
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        return PREFIX + self.key


@dataclass(frozen=True, slots=True)
class Ratio:
    """(Σ numerator) ÷ (Σ denominator) over a window, times ``scale``; absent when the denominator is 0.

    Terms are counter keys; a leading ``-`` subtracts the counter.
    """

    key: str
    help: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    scale: float = 1.0

    @property
    def name(self) -> str:
        return PREFIX + self.key


def term_sum(sums: dict[str, float], terms: tuple[str, ...]) -> float:
    total = 0.0
    for term in terms:
        if term.startswith("-"):
            total -= sums.get(term[1:], 0)
        else:
            total += sums.get(term, 0)
    return total


# Seconds to a day (and two) for written channels, where replies take hours.
TICKET_DURATION_BUCKETS = (
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0,
    172800.0,
)  # fmt: skip
# Resolution takes from minutes (chat) to a week (email back-and-forth).
RESOLUTION_BUCKETS = (
    300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0, 345600.0, 604800.0,
)  # fmt: skip
# Seconds to half an hour for callers waiting in a queue.
CALL_WAIT_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0)
# Talk plus after-call work: a minute to an hour.
HANDLE_BUCKETS = (60.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0)
# One bucket per point of any effort scale up to 10.
SCORE_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)

COUNTERS: tuple[Counter, ...] = (
    Counter("tickets_created", "Tickets created."),
    Counter("tickets_escalated", "Tickets escalated (each ticket counts once, at its first escalation)."),
    Counter("ticket_first_responses", "Tickets that received their first agent reply."),
    Counter("first_response_sla_breaches", "First agent replies that came later than the queue's target."),
    Counter("tickets_resolved", "Ticket resolutions (a ticket resolved again after a reopen counts again)."),
    Counter("tickets_reopened", "Resolved tickets reopened."),
    Counter(
        "tickets_first_contact_resolved", "Tickets resolved the first time with fewer than two agent replies."
    ),
    Counter(
        "tickets_first_contact_voided",
        "First-contact resolutions voided by a reopen and another agent reply.",
    ),
    Counter("complaints", "Tickets created with the complaint tag."),
    Counter("calls_offered", "Calls that entered a queue."),
    Counter("calls_answered", "Calls answered by an agent."),
    Counter("calls_answered_within_sla", "Calls answered within the queue's service-level threshold."),
    Counter("calls_abandoned", "Callers who hung up while waiting, after the short-abandon threshold."),
    Counter(
        "calls_short_abandoned", "Callers who hung up within the short-abandon threshold (not abandons)."
    ),
    Counter("calls_handled", "Answered calls that ended (conversation and wrap-up complete)."),
    Counter(
        "call_blind_transfers",
        "Calls an agent transferred on without speaking to the receiving party first (each transfer).",
    ),
    Counter(
        "call_consult_transfers",
        "Calls an agent transferred on after speaking to the receiving party (consult; each transfer).",
    ),
    Counter("call_holds", "Times an agent put a caller on hold."),
    Counter("call_hold_seconds", "Seconds callers spent on hold, counted as each hold ends."),
    Counter(
        "callbacks_requested", "Waiting callers who took a callback offer (neither answered nor abandoned)."
    ),
    Counter("callbacks_handled", "Callbacks that reached the caller who asked for one."),
    Counter("contacts", "Tickets and calls from identified customers."),
    Counter("repeat_contacts", "Contacts from a customer who had another contact within the repeat horizon."),
    Counter(
        "conversions", "Purchases within the conversion horizon after a support contact (one per contact)."
    ),
    Counter("csat_responses", "CSAT answers (1-5)."),
    Counter("csat_satisfied", "CSAT answers of 4 or 5."),
    Counter("nps_responses", "NPS answers (0-10)."),
    Counter("nps_promoters", "NPS answers of 9 or 10."),
    Counter("nps_passives", "NPS answers of 7 or 8."),
    Counter("nps_detractors", "NPS answers of 0 to 6."),
    Counter(
        "agent_available_seconds",
        "Time agents serving the queue spent available, counted as each spell ends.",
    ),
    Counter(
        "agent_busy_seconds", "Time agents serving the queue spent on contacts, counted as each spell ends."
    ),
    Counter(
        "agent_wrap_up_seconds",
        "Time agents serving the queue spent in after-contact work, as each spell ends.",
    ),
    Counter(
        "agent_away_seconds", "Time agents serving the queue spent logged in but away, as each spell ends."
    ),
    Counter(
        "agent_missed_offers",
        "Offers that rang an agent who did not take them (timed out or rejected: agent non-response).",
    ),
    Counter(
        "agent_events_late",
        "Agent state changes that arrived after a later one of the same agent (applied to nothing).",
    ),
)

# After-call work: seconds to half an hour.
WRAP_UP_BUCKETS = (5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1200.0, 1800.0)

HISTOGRAMS: tuple[Histogram, ...] = (
    Histogram(
        "first_response_seconds",
        "Time from ticket creation to the first agent reply (bot and customer replies excluded).",
        TICKET_DURATION_BUCKETS,
        "first_response_mean_seconds",
        "Mean first response time of first replies made in the window.",
        quantiles=(0.9,),
    ),
    Histogram(
        "resolution_seconds",
        "Time a ticket was open before being resolved; a reopen starts a new open period.",
        RESOLUTION_BUCKETS,
        "resolution_mean_seconds",
        "Mean resolution time of resolutions in the window.",
    ),
    Histogram(
        "first_response_business_seconds",
        "First response time counting only the queue's business hours (queues with a calendar).",
        TICKET_DURATION_BUCKETS,
        "first_response_business_mean_seconds",
        "Mean first response time in business seconds of first replies made in the window.",
        business=True,
    ),
    Histogram(
        "resolution_business_seconds",
        "Resolution time counting only the queue's business hours (queues with a calendar).",
        RESOLUTION_BUCKETS,
        "resolution_business_mean_seconds",
        "Mean resolution time in business seconds of resolutions in the window.",
        business=True,
    ),
    Histogram(
        "call_wait_seconds",
        "Time answered calls waited in the queue (speed of answer).",
        CALL_WAIT_BUCKETS,
        "call_wait_mean_seconds",
        "Mean time in queue of calls answered in the window (average speed of answer).",
    ),
    Histogram(
        "call_abandon_wait_seconds",
        "Time callers waited before hanging up (short abandons left out): with the answered calls' "
        "waits, what the forecast's Erlang A staffing estimates callers' patience from.",
        CALL_WAIT_BUCKETS,
        "call_abandon_wait_mean_seconds",
        "Mean time callers who hung up in the window had waited (short abandons left out).",
    ),
    Histogram(
        "call_handle_seconds",
        "Handle time of answered calls: from answer to the end of the call.",
        HANDLE_BUCKETS,
        "call_handle_mean_seconds",
        "Mean handle time of calls that ended in the window (average handle time).",
    ),
    Histogram(
        "ces_score",
        "Customer effort score answers, on the configured scale.",
        SCORE_BUCKETS,
        "ces_mean_score",
        "Mean customer effort score of answers in the window.",
        unit="score",
    ),
    Histogram(
        "after_call_work_seconds",
        "Length of agents' wrap-up spells (after-call work), counted as each ends.",
        WRAP_UP_BUCKETS,
        "after_call_work_mean_seconds",
        "Mean length of wrap-up spells that ended in the window.",
    ),
)

RATIOS: tuple[Ratio, ...] = (
    Ratio(
        "ticket_escalation_ratio",
        "Escalations ÷ tickets created, both counted in the window.",
        ("tickets_escalated",),
        ("tickets_created",),
    ),
    Ratio(
        "first_response_sla_breach_ratio",
        "First replies later than target ÷ first replies, in the window.",
        ("first_response_sla_breaches",),
        ("ticket_first_responses",),
    ),
    Ratio(
        "first_contact_resolution_ratio",
        "(First-contact resolutions − voided ones) ÷ resolutions, in the window.",
        ("tickets_first_contact_resolved", "-tickets_first_contact_voided"),
        ("tickets_resolved",),
    ),
    Ratio(
        "call_abandonment_ratio",
        "Abandoned calls ÷ (calls offered − short abandons), in the window.",
        ("calls_abandoned",),
        ("calls_offered", "-calls_short_abandoned"),
    ),
    Ratio(
        "service_level_ratio",
        "Calls answered within the threshold ÷ (calls offered − short abandons), in the window.",
        ("calls_answered_within_sla",),
        ("calls_offered", "-calls_short_abandoned"),
    ),
    Ratio(
        "repeat_contact_ratio",
        "Repeat contacts ÷ contacts, in the window.",
        ("repeat_contacts",),
        ("contacts",),
    ),
    Ratio(
        "conversion_ratio",
        "Conversions ÷ contacts, in the window.",
        ("conversions",),
        ("contacts",),
    ),
    Ratio(
        "csat_ratio",
        "Satisfied CSAT answers (4-5) ÷ CSAT answers, in the window (×100 for CSAT %).",
        ("csat_satisfied",),
        ("csat_responses",),
    ),
    Ratio(
        "nps_score",
        "Net promoter score in the window: % promoters − % detractors (−100..100).",
        ("nps_promoters", "-nps_detractors"),
        ("nps_responses",),
        scale=100.0,
    ),
    Ratio(
        "agent_occupancy_ratio",
        "(Busy + wrap-up time) ÷ logged-in time (available + busy + wrap-up + away) "
        "of the spells that ended in the window.",
        ("agent_busy_seconds", "agent_wrap_up_seconds"),
        ("agent_available_seconds", "agent_busy_seconds", "agent_wrap_up_seconds", "agent_away_seconds"),
    ),
)

# Work measures per window: conversations handled are ticket resolutions plus handled calls.
CONVERSATIONS = ("tickets_resolved", "calls_handled")

HISTOGRAM_BY_KEY = {h.key: h for h in HISTOGRAMS}


def window_count_name(counter: Counter) -> str:
    """Gauge holding a counter's increase over a rolling window."""
    return f"{PREFIX}window_{counter.key}"


def window_count_help(counter: Counter) -> str:
    return f"{counter.help} Count over the window."


def quantile_help(histogram: Histogram, q: float) -> str:
    return f"{q:.0%} quantile of {histogram.key} in the window, estimated from histogram buckets."


WINDOW_LABELS = (*LABELS, "window")

# Queue state now, per queue and channel. Entities enter and leave *levels* (facts carry
# ``levels: [[name, since, ±1], ...]``); the aggregation keeps each level's count and since when
# its members are there, and the export reads counts and the oldest member's age at scrape time.
LEVEL_TICKETS_OPEN = "tickets_open"
LEVEL_CALLS_WAITING = "calls_waiting"
TICKET_STATUSES = ("new", "open", "pending")


def status_level(status: str) -> str:
    """The level of open tickets in ``status`` (new: no agent reply yet; open: the customer waits on
    the agent; pending: the agent waits on the customer)."""
    return f"status:{status}"


# States of a logged-in agent; an offline agent is in no level. Staffed: taking contacts.
AGENT_STATES = ("available", "busy", "wrap_up", "away")
STAFFED_STATES = ("available", "busy", "wrap_up")


def agent_level(state: str) -> str:
    return f"agents:{state}"


# Available agents who let several offers in a row ring out since their last change of state.
LEVEL_AGENTS_MISSING_OFFERS = "agents:missing_offers"


# Levels that keep since when their members are there, and to what resolution (seconds; None: the
# bucket): those whose oldest member's age is exported, and those whose members stop counting after
# a horizon. The other levels keep a count only, so a queue's aggregate, rewritten at every batch,
# stays small.
LEVEL_RESOLUTION: dict[str, int | None] = {
    LEVEL_TICKETS_OPEN: None,
    status_level("new"): None,
    LEVEL_CALLS_WAITING: 1,  # callers wait seconds
    **{agent_level(state): 3600 for state in AGENT_STATES},  # agents stay in a state for hours
    LEVEL_AGENTS_MISSING_OFFERS: 3600,
}
# No caller waits this long: one whose answer, abandon or end never arrived stops counting after it.
WAITING_HORIZON_SECONDS = 4 * 3600
# No agent stays in one state with no change this long (a shift is shorter): one whose logout never
# arrived stops counting after it (to the hour its state began).
AGENT_HORIZON_SECONDS = 12 * 3600

TICKETS_OPEN = Series(LEVEL_TICKETS_OPEN, "Open tickets (active issues) now.", "gauge", LABELS)
TICKETS_BY_STATUS = Series(
    "tickets_open_by_status",
    "Open tickets now by status: new (no agent reply yet), open (the customer waits on the agent), "
    "pending (the agent waits on the customer).",
    "gauge",
    (*LABELS, "status"),
)
OLDEST_NEW_TICKET = Series(
    "oldest_unanswered_ticket_age_seconds",
    "Age of the oldest open ticket still waiting for its first agent reply (to the minute); 0 when none.",
    "gauge",
    LABELS,
)
AGENTS_MISSING_OFFERS = Series(
    "agents_missing_offers",
    "Agents shown as available now who missed the last CXPULSE_MISSED_OFFERS_IN_A_ROW offers in a "
    "row (rang out or rejected) since their last change of state, in each queue they serve.",
    "gauge",
    LABELS,
)
AGENTS = Series(
    "agents",
    "Agents logged in now by state (available, busy, wrap_up, away), in each queue they serve "
    "(an agent serving two queues counts in both).",
    "gauge",
    (*LABELS, "state"),
)
CALLS_WAITING = Series(
    LEVEL_CALLS_WAITING,
    "Callers in the queue now: queued (in the last 4 hours) and not yet answered, abandoned or ended.",
    "gauge",
    LABELS,
)
LONGEST_CALL_WAIT = Series(
    "longest_call_wait_seconds",
    "How long the caller waiting longest has waited so far; 0 when nobody waits.",
    "gauge",
    LABELS,
)
OLDEST_OPEN_TICKET = Series(
    "oldest_open_ticket_age_seconds",
    "Age of the oldest open ticket (or of its current open period, after a reopen).",
    "gauge",
    LABELS,
)
EVENTS_LATE = Series(
    "events_late",
    "Events (KPI facts) that arrived after their window closed: in the totals, in no window.",
    "counter",
    LABELS,
)

# Each queue's targets and limits from the policy (field name -> series), and whether it is open:
# the alert rules, dashboards and `cxpulse top` compare against these, never numbers of their own.
QUEUE_LABELS = ("queue",)
QUEUE_TARGETS: dict[str, Series] = {
    "service_level_target": Series(
        "service_level_target_ratio",
        "Share of calls the queue aims to answer within its service-level threshold.",
        "gauge",
        QUEUE_LABELS,
    ),
    "service_level_seconds": Series(
        "service_level_threshold_seconds",
        "Calls answered within this many seconds meet the queue's service level.",
        "gauge",
        QUEUE_LABELS,
    ),
    "short_abandon_seconds": Series(
        "short_abandon_threshold_seconds",
        "Callers hanging up within this many seconds are short abandons (in no ratio).",
        "gauge",
        QUEUE_LABELS,
    ),
    "first_response_target_seconds": Series(
        "first_response_target_seconds",
        "The queue's first-response target: a later first reply is a breach.",
        "gauge",
        QUEUE_LABELS,
    ),
    "abandonment_limit": Series(
        "abandonment_limit_ratio",
        "Share of calls abandoned above which the queue is in trouble.",
        "gauge",
        QUEUE_LABELS,
    ),
    "escalation_limit": Series(
        "escalation_limit_ratio",
        "Share of new tickets escalated above which a rise in escalations alerts.",
        "gauge",
        QUEUE_LABELS,
    ),
    "first_response_objective": Series(
        "first_response_objective_ratio",
        "Share of first replies the queue aims to send within its first-response target (its SLO).",
        "gauge",
        QUEUE_LABELS,
    ),
    "first_response_breach_limit": Series(
        "first_response_breach_limit_ratio",
        "Share of first replies later than the target above which a rise in breaches alerts.",
        "gauge",
        QUEUE_LABELS,
    ),
    "open_grace_seconds": Series(
        "queue_open_grace_seconds",
        "Seconds after the queue opens before alerts about the floor may fire.",
        "gauge",
        QUEUE_LABELS,
    ),
}
QUEUE_OPEN_SHARE = Series(
    "queue_open_share_ratio",
    "Share of the week the queue is open by its weekly hours (1 without a calendar): SLO burn-rate "
    "alerts scale their factors by it, as a budget is spent in open hours only.",
    "gauge",
    QUEUE_LABELS,
)
QUEUE_OPEN_SINCE = Series(
    "queue_open_since_timestamp_seconds",
    "While the queue is open: when its current opening began (Unix seconds; 0 for a queue "
    "without a calendar, open since ever). 0 while closed.",
    "gauge",
    QUEUE_LABELS,
)

QUEUE_OPEN = Series(
    "queue_open",
    "1 while the queue is open by its calendar (opening hours and holidays), else 0; a queue "
    "without a calendar is always open.",
    "gauge",
    QUEUE_LABELS,
)

# Work measures per window, under the keys :func:`metrics.aggregates.windows.window_values` gives them.
WORK_MEASURES: dict[str, Series] = {
    "active_agents": Series(
        "window_active_agents",
        "Distinct agents who did KPI-counted work in the window.",
        "gauge",
        WINDOW_LABELS,
    ),
    "resolutions_per_agent_hour": Series(
        "resolutions_per_agent_hour",
        "Conversations handled (tickets resolved + calls handled) per active agent-hour in the window.",
        "gauge",
        WINDOW_LABELS,
    ),
    "cost_per_conversation": Series(
        "cost_per_conversation",
        "Support cost (active agent-hours × hourly cost) ÷ conversations handled in the window.",
        "gauge",
        WINDOW_LABELS,
    ),
}

# Staffing now (Erlang C) per queue and channel, under the keys
# :func:`metrics.staffing.live_staffing` gives them; read from this window's calls and handle time.
STAFFING_WINDOW = "15m"
STAFFING: dict[str, Series] = {
    s.key: s
    for s in (
        Series(
            "offered_load_erlangs",
            "Offered load now: calls offered in the last 15 minutes per second × mean handle time.",
            "gauge",
            LABELS,
        ),
        Series(
            "required_agents",
            "Agents needed for the queue's service-level target within its maximum occupancy (Erlang C, "
            "last 15 minutes' load).",
            "gauge",
            LABELS,
        ),
        Series(
            "predicted_service_level_ratio",
            "Service level Erlang C predicts with the agents logged in and not away now.",
            "gauge",
            LABELS,
        ),
        Series(
            "predicted_speed_of_answer_seconds",
            "Average speed of answer Erlang C predicts with the agents logged in and not away now "
            "(+Inf when they cannot keep up).",
            "gauge",
            LABELS,
        ),
        Series(
            "staffing_gap_agents",
            "Required agents minus agents logged in and not away now (positive: short of agents).",
            "gauge",
            LABELS,
        ),
    )
}

# The forecast (docs/kpis.md, "Arrivals forecast"): contacts arriving per interval, learnt from
# the counters below, kept per quarter-hour (every time zone's offset is a multiple of it).
ARRIVAL_COUNTERS = ("tickets_created", "calls_offered")
HISTORY_SLOT_SECONDS = 900
FORECAST_LABELS = (*LABELS, "interval")
FORECAST: dict[str, Series] = {
    s.key: s
    for s in (
        Series(
            "forecast_contacts",
            "Contacts forecast to arrive in the interval starting at the offset `interval` from the "
            "current interval's start (+0m: the current one), in the queue's time zone.",
            "gauge",
            FORECAST_LABELS,
        ),
        Series(
            "forecast_handle_seconds",
            "Handle time the interval's calls are forecast to take: the mean of the same interval in "
            "recent weeks (the queue's mean so far where those have no call).",
            "gauge",
            FORECAST_LABELS,
        ),
        Series(
            "forecast_required_agents",
            "Agents on the phones the interval's forecast calls need for the queue's service-level "
            "target within its maximum occupancy (Erlang A, patience from the queue's own abandons).",
            "gauge",
            FORECAST_LABELS,
        ),
        Series(
            "forecast_scheduled_agents",
            "Agents to have on the rota for the interval: required agents after the queue's shrinkage.",
            "gauge",
            FORECAST_LABELS,
        ),
        Series(
            "forecast_staffing_gap_agents",
            "Required agents for the interval minus agents logged in and not away now (positive: short).",
            "gauge",
            FORECAST_LABELS,
        ),
    )
}

# First replies by ticket priority (docs/kpis.md, "First response time"): counted under the keys
# priority_key(counter, label) in a queue's totals, exported with a priority label.
BY_PRIORITY: dict[str, Series] = {
    "ticket_first_responses": Series(
        "ticket_first_responses_by_priority",
        "Tickets that received their first agent reply, by the ticket's priority then (a configured "
        "priority, or other; tickets without one are not counted here).",
        "counter",
        (*LABELS, "priority"),
    ),
    "first_response_sla_breaches": Series(
        "first_response_sla_breaches_by_priority",
        "First agent replies later than the target of the ticket's priority (the queue's where the "
        "priority has none), by priority.",
        "counter",
        (*LABELS, "priority"),
    ),
}


def priority_key(counter: str, priority: str) -> str:
    """The totals key of ``counter`` for tickets of ``priority``."""
    return f"{counter}@{priority}"


# Today so far (docs/kpis.md): what a wallboard shows all day, counted by event time from the
# start of the queue's local day (its midnight, or its reset hour), and zero again when the next
# day begins. Counters by their keys in COUNTERS; sums of observations by their histogram's key.
TODAY_COUNTERS = (
    "calls_offered",
    "calls_answered",
    "calls_answered_within_sla",
    "calls_abandoned",
    "calls_short_abandoned",
    "calls_handled",
    "tickets_created",
    "ticket_first_responses",
    "first_response_sla_breaches",
    "tickets_resolved",
)
TODAY_SUMS = {"call_wait_seconds": "answer_wait_seconds", "call_handle_seconds": "handle_seconds"}
_COUNTER_HELP = {c.key: c.help for c in COUNTERS}
TODAY: dict[str, Series] = {
    **{
        key: Series(
            f"today_{key}",
            f"Today so far: {_COUNTER_HELP[key][0].lower()}{_COUNTER_HELP[key][1:]}",
            "gauge",
            LABELS,
        )
        for key in TODAY_COUNTERS
    },
    "call_wait_seconds": Series(
        "today_answer_wait_seconds",
        "Today so far: seconds answered callers waited, in all (÷ calls answered today: the day's ASA).",
        "gauge",
        LABELS,
    ),
    "call_handle_seconds": Series(
        "today_handle_seconds",
        "Today so far: handle seconds of the calls handled, in all (÷ calls handled today: the day's AHT).",
        "gauge",
        LABELS,
    ),
}
TODAY_START = Series(
    "today_start_timestamp_seconds",
    "When the queue's current day began (its local midnight or reset hour), in Unix seconds: the "
    "cxpulse_today_* series count from it.",
    "gauge",
    LABELS,
)

# The customer base (not per queue).
CUSTOMERS_JOINED = Series("customers_joined", "Customers who joined.", "counter")
CUSTOMERS_CHURNED = Series("customers_churned", "Customers who churned.", "counter")
CUSTOMERS_ACTIVE = Series("customers_active", "Customers now: the base plus joins minus churns.", "gauge")
CUSTOMER_RETENTION = Series(
    "customer_retention_ratio",
    "Customer retention rate (CE − CN) ÷ CS of the period (UTC day or month; ×100 for %).",
    "gauge",
    ("period",),
)
CUSTOMER_CHURN = Series(
    "customer_churn_ratio",
    "Customers churned in the period ÷ customers at its start.",
    "gauge",
    ("period",),
)

LABEL_VALUES_FOLDED = Series(
    "label_values_folded",
    'Fact messages counted under "other" because their queue or channel came past the cap.',
    "counter",
    ("label",),
)

# The worker's own series: per process, restarting at 0 with it (use rate()).
WORKER_SERIES: dict[str, Series] = {
    s.key: s
    for s in (
        Series("events", "Valid events consumed, by topic and type.", "counter", ("topic", "type")),
        Series(
            "events_invalid",
            "Events rejected by validation and parked on the dead-letter topic, by reason.",
            "counter",
            ("topic", "reason"),
        ),
        Series(
            "events_duplicate",
            "Events whose event_id was already processed for the same ticket or call; counted once.",
            "counter",
            ("topic",),
        ),
        Series(
            "fact_messages",
            "Source records whose KPI facts the aggregation applied (replays it dropped are not counted).",
            "counter",
        ),
        Series(
            "records_out_of_order",
            "Records refused because an earlier record of their partition was not processed yet "
            "(set aside by a rebalance); the partition is read again from the missing one.",
            "counter",
            ("topic",),
        ),
        Series("worker_rebalances", "Consumer group rebalances this worker went through.", "counter"),
        Series(
            "event_delay_seconds",
            "Time from an event's occurred_at to its processing by this worker (freshness of the KPIs).",
            "histogram",
            buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
        ),
        Series(
            "entities_expired",
            "Ticket, call, survey-subject and customer states deleted after their retention.",
            "counter",
        ),
        Series(
            "broker_up",
            "1 if this worker reached a Kafka bootstrap server at its last check (every 2 s), else 0.",
            "gauge",
        ),
        Series(
            "worker_ready",
            "1 if this worker is in its group with its assignment, its tables rebuilt and a broker "
            "reachable (what /ready answers 200 to), else 0.",
            "gauge",
        ),
        Series(
            "worker_assigned_partitions",
            "Partitions of the KPI fact stream this worker currently owns and exports.",
            "gauge",
        ),
    )
}


# The ingest gateway's own series (cxpulse ingest): per process, like the worker's.
INGEST_SERIES: dict[str, Series] = {
    s.key: s
    for s in (
        Series(
            "ingest_requests",
            "Requests answered by the ingest gateway, by source (events, zendesk, ...) and status code.",
            "counter",
            ("source", "code"),
        ),
        Series(
            "ingest_events",
            "Contract events the gateway put on Kafka (acknowledged by all in-sync replicas), by source.",
            "counter",
            ("source",),
        ),
        Series(
            "ingest_ignored",
            "Payloads accepted but carrying no KPI (internal notes, worker activity, ...), by source.",
            "counter",
            ("source",),
        ),
        Series(
            "ingest_rejected",
            "Requests or events refused, by source and reason (unauthorized, malformed, unmappable, ...).",
            "counter",
            ("source", "reason"),
        ),
        Series(
            "ingest_request_seconds",
            "Time from a request's arrival to its answer, Kafka's acknowledgement included, by source.",
            "histogram",
            ("source",),
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        ),
        Series(
            "ingest_kafka_up",
            "1 if the gateway's producer reached Kafka at its last check, else 0.",
            "gauge",
        ),
    )
}
