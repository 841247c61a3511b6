"""How often a backfill must write a series for every shipped query to read what it would per step.

A replay takes a snapshot of every series each step (a minute) of event time, but most series
stand still most of the time: a queue at night, a histogram bucket no reply ever lands in. A
series is written only when PromQL could tell a missing sample apart, which gives two rules:

- **around a change, every step for as long as the longest range a query reads it over.**
  ``rate``, ``increase`` and ``delta`` extrapolate from the first and last sample inside their
  range, so any range holding a change must see the same samples at both ends as with a sample
  every step; a range that sees no change gives 0 from any two samples.
- **otherwise, one sample every ``refresh`` seconds**: half the shortest range a query reads the
  series over (so every range holds two samples), and within the five-minute lookback for a
  series read as an instant value (so a query finds it and does not take it for gone).

Also written: a series' first and last step, which a query sees as it appearing and vanishing.

:data:`READ_BY_SHIPPED_QUERIES` is what the rules and dashboards in ``deploy/`` read, series by
series (a test derives it from them and fails when they disagree); a series no shipped query
reads keeps an hour of dense samples around each change and a sample every four minutes, so a
query of one's own over ranges up to an hour reads the same too.
"""

from __future__ import annotations

from dataclasses import dataclass

LOOKBACK_SECONDS = 300  # Prometheus' default lookback for an instant vector
INSTANT_REFRESH_SECONDS = 240  # a sample within every lookback, with a minute to spare


@dataclass(frozen=True, slots=True)
class Cadence:
    dense_seconds: float  # around a change, every step this far on either side
    refresh_seconds: float  # otherwise, a sample at least this often


RULES, DASHBOARDS = "rules", "dashboards"
_R, _D, _RD = frozenset({RULES}), frozenset({DASHBOARDS}), frozenset({RULES, DASHBOARDS})


@dataclass(frozen=True, slots=True)
class Reads:
    """How shipped queries read one series: the ranges they apply, whether any reads it bare, and
    whether the alerting and recording rules, the dashboards or both read it (a dashboard that
    shows a recorded series reads what the recording rule reads)."""

    ranges: tuple[int, ...] = ()  # seconds
    instant: bool = False
    by: frozenset[str] = _RD

    def cadence(self) -> Cadence:
        refresh = min(self.ranges) / 2 if self.ranges else float(INSTANT_REFRESH_SECONDS)
        if self.instant:
            refresh = min(refresh, INSTANT_REFRESH_SECONDS)
        return Cadence(dense_seconds=max(self.ranges, default=0), refresh_seconds=refresh)


UNREAD = Cadence(dense_seconds=3600, refresh_seconds=INSTANT_REFRESH_SECONDS)
EVERY_STEP = Cadence(dense_seconds=float("inf"), refresh_seconds=0)

_M, _H = 60, 3600
# Sample name -> how the shipped rules and dashboards read it (``by`` left out: both read it).
READ_BY_SHIPPED_QUERIES: dict[str, Reads] = {
    "cxpulse_abandonment_limit_ratio": Reads(instant=True),
    "cxpulse_agent_missed_offers_total": Reads((1 * _H,), by=_D),
    "cxpulse_agent_occupancy_ratio": Reads(instant=True, by=_D),
    "cxpulse_agents": Reads(instant=True, by=_D),
    "cxpulse_agents_missing_offers": Reads(instant=True),
    "cxpulse_call_abandonment_ratio": Reads(instant=True, by=_D),
    "cxpulse_call_blind_transfers_total": Reads((1 * _H,), by=_D),
    "cxpulse_call_consult_transfers_total": Reads((1 * _H,), by=_D),
    "cxpulse_call_handle_mean_seconds": Reads(instant=True, by=_D),
    "cxpulse_call_handle_seconds_count": Reads((1 * _H,)),
    "cxpulse_call_handle_seconds_sum": Reads((1 * _H,)),
    "cxpulse_call_hold_seconds_total": Reads((1 * _H,), by=_D),
    "cxpulse_call_holds_total": Reads((1 * _H,), by=_D),
    "cxpulse_call_wait_seconds_bucket": Reads((1 * _H,)),
    "cxpulse_call_wait_seconds_count": Reads((15 * _M,)),
    "cxpulse_call_wait_seconds_sum": Reads((15 * _M,)),
    "cxpulse_callbacks_handled_total": Reads((1 * _H,), by=_D),
    "cxpulse_callbacks_requested_total": Reads((1 * _H,), by=_D),
    "cxpulse_calls_abandoned_total": Reads((5 * _M, 15 * _M, 30 * _M, 1 * _H)),
    "cxpulse_calls_answered_total": Reads((5 * _M, 15 * _M, 30 * _M, 1 * _H), by=_R),
    "cxpulse_calls_answered_within_sla_total": Reads((5 * _M, 15 * _M, 30 * _M, 1 * _H)),
    "cxpulse_calls_offered_total": Reads((5 * _M, 15 * _M, 30 * _M, 1 * _H)),
    "cxpulse_calls_short_abandoned_total": Reads((5 * _M, 15 * _M, 30 * _M, 1 * _H)),
    "cxpulse_calls_waiting": Reads(instant=True),
    "cxpulse_ces_score_count": Reads((1 * _H,)),
    "cxpulse_ces_score_sum": Reads((1 * _H,)),
    "cxpulse_complaints_total": Reads((1 * _H,), by=_D),
    "cxpulse_contacts_total": Reads((1 * _H,)),
    "cxpulse_cost_per_conversation": Reads(instant=True, by=_D),
    "cxpulse_csat_ratio": Reads(instant=True, by=_D),
    "cxpulse_csat_responses_total": Reads((1 * _H,)),
    "cxpulse_csat_satisfied_total": Reads((1 * _H,)),
    "cxpulse_customer_churn_ratio": Reads(instant=True, by=_D),
    "cxpulse_customer_retention_ratio": Reads(instant=True, by=_D),
    "cxpulse_customers_active": Reads(instant=True, by=_D),
    "cxpulse_escalation_limit_ratio": Reads(instant=True, by=_R),
    "cxpulse_event_delay_seconds_bucket": Reads((5 * _M,), by=_D),
    "cxpulse_events_duplicate_total": Reads((5 * _M,), by=_D),
    "cxpulse_events_invalid_total": Reads((5 * _M,)),
    "cxpulse_events_late_total": Reads((5 * _M,), by=_D),
    "cxpulse_events_total": Reads((5 * _M,), instant=True),
    "cxpulse_fact_messages_total": Reads((5 * _M,), by=_D),
    "cxpulse_first_contact_resolution_ratio": Reads(instant=True, by=_D),
    "cxpulse_first_response_breach_limit_ratio": Reads(instant=True, by=_R),
    "cxpulse_first_response_mean_seconds": Reads(instant=True, by=_D),
    "cxpulse_first_response_objective_ratio": Reads(instant=True, by=_R),
    "cxpulse_first_response_p90_seconds": Reads(instant=True, by=_D),
    "cxpulse_first_response_seconds_bucket": Reads((1 * _H,)),
    "cxpulse_first_response_sla_breaches_by_priority_total": Reads((1 * _H,)),
    "cxpulse_first_response_sla_breaches_total": Reads((5 * _M, 15 * _M, 30 * _M, 1 * _H)),
    "cxpulse_first_response_target_seconds": Reads(instant=True, by=_D),
    "cxpulse_forecast_contacts": Reads(instant=True, by=_D),
    "cxpulse_forecast_required_agents": Reads(instant=True, by=_D),
    "cxpulse_forecast_scheduled_agents": Reads(instant=True, by=_D),
    "cxpulse_forecast_staffing_gap_agents": Reads(instant=True, by=_D),
    "cxpulse_longest_call_wait_seconds": Reads(instant=True),
    "cxpulse_nps_detractors_total": Reads((1 * _H,)),
    "cxpulse_nps_promoters_total": Reads((1 * _H,)),
    "cxpulse_nps_responses_total": Reads((1 * _H,)),
    "cxpulse_nps_score": Reads(instant=True, by=_D),
    "cxpulse_oldest_open_ticket_age_seconds": Reads(instant=True, by=_D),
    "cxpulse_oldest_unanswered_ticket_age_seconds": Reads(instant=True, by=_D),
    "cxpulse_predicted_service_level_ratio": Reads(instant=True, by=_D),
    "cxpulse_queue_open": Reads(instant=True, by=_R),
    "cxpulse_queue_open_grace_seconds": Reads(instant=True, by=_R),
    "cxpulse_queue_open_share_ratio": Reads(instant=True, by=_R),
    "cxpulse_queue_open_since_timestamp_seconds": Reads(instant=True, by=_R),
    "cxpulse_repeat_contacts_total": Reads((1 * _H,)),
    "cxpulse_required_agents": Reads(instant=True, by=_D),
    "cxpulse_resolution_seconds_count": Reads((1 * _H,)),
    "cxpulse_resolution_seconds_sum": Reads((1 * _H,)),
    "cxpulse_resolutions_per_agent_hour": Reads(instant=True, by=_D),
    "cxpulse_service_level_ratio": Reads(instant=True, by=_D),
    "cxpulse_service_level_target_ratio": Reads(instant=True),
    "cxpulse_service_level_threshold_seconds": Reads(instant=True),
    "cxpulse_staffing_gap_agents": Reads(instant=True),
    "cxpulse_ticket_first_responses_by_priority_total": Reads((1 * _H,)),
    "cxpulse_ticket_first_responses_total": Reads((5 * _M, 15 * _M, 30 * _M, 1 * _H)),
    "cxpulse_tickets_created_total": Reads((15 * _M, 30 * _M, 1 * _H)),
    "cxpulse_tickets_escalated_total": Reads((15 * _M,)),
    "cxpulse_tickets_first_contact_resolved_total": Reads((1 * _H,)),
    "cxpulse_tickets_first_contact_voided_total": Reads((1 * _H,)),
    "cxpulse_tickets_open": Reads(instant=True),
    "cxpulse_tickets_open_by_status": Reads(instant=True),
    "cxpulse_tickets_resolved_total": Reads((1 * _H,)),
    "cxpulse_today_answer_wait_seconds": Reads(instant=True, by=_D),
    "cxpulse_today_calls_abandoned": Reads(instant=True, by=_D),
    "cxpulse_today_calls_answered": Reads(instant=True, by=_D),
    "cxpulse_today_calls_answered_within_sla": Reads(instant=True, by=_D),
    "cxpulse_today_calls_handled": Reads(instant=True, by=_D),
    "cxpulse_today_calls_offered": Reads(instant=True, by=_D),
    "cxpulse_today_calls_short_abandoned": Reads(instant=True, by=_D),
    "cxpulse_today_first_response_sla_breaches": Reads(instant=True, by=_D),
    "cxpulse_today_handle_seconds": Reads(instant=True, by=_D),
    "cxpulse_today_ticket_first_responses": Reads(instant=True, by=_D),
    "cxpulse_today_tickets_created": Reads(instant=True, by=_D),
    "cxpulse_today_tickets_resolved": Reads(instant=True, by=_D),
    "cxpulse_window_active_agents": Reads(instant=True, by=_D),
    "cxpulse_window_calls_answered_within_sla": Reads(instant=True, by=_D),
    "cxpulse_window_calls_offered": Reads(instant=True, by=_D),
    "cxpulse_window_calls_short_abandoned": Reads(instant=True, by=_D),
    "cxpulse_window_contacts": Reads(instant=True, by=_D),
    "cxpulse_window_conversions": Reads(instant=True, by=_D),
    "cxpulse_window_tickets_created": Reads(instant=True, by=_D),
    "cxpulse_window_tickets_escalated": Reads(instant=True, by=_D),
    "cxpulse_window_tickets_resolved": Reads(instant=True, by=_D),
    "cxpulse_worker_assigned_partitions": Reads(instant=True, by=_D),
    "cxpulse_worker_rebalances_total": Reads((1 * _H,), by=_D),
}


def cadence_of(sample_name: str) -> Cadence:
    reads = READ_BY_SHIPPED_QUERIES.get(sample_name)
    return UNREAD if reads is None else reads.cadence()


def read_by(reader: str) -> frozenset[str]:
    """The sample names that the shipped rules (``"rules"``) or dashboards (``"dashboards"``) read."""
    return frozenset(name for name, reads in READ_BY_SHIPPED_QUERIES.items() if reader in reads.by)


def longest_dense_seconds() -> float:
    """The longest dense stretch any series may have around a change: how far back a change can
    reach into samples already decided, and how far ahead a replay must look to decide a step."""
    return max(
        UNREAD.dense_seconds, *(reads.cadence().dense_seconds for reads in READ_BY_SHIPPED_QUERIES.values())
    )
