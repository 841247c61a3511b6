"""The cxpulse Grafana dashboards, as code: the one source of the JSON files Grafana loads.

    python deploy/grafana/dashboards.py          # write deploy/grafana/dashboards/*.json
    python deploy/grafana/dashboards.py --check  # fail if the JSON files are stale

Panels query the recording rules of deploy/prometheus/rules/cxpulse.rules.yml where a ratio or
quantile is summed over workers, and the worker's own series otherwise. The test suite checks
that every name used here is exported by cxpulse or recorded by the rules, and that every
query returns data from a real Prometheus scraping a real worker.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueColorMode, BigValueTextMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    MatcherConfig,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUT = Path(__file__).parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
# The bounds of cxpulse_call_wait_seconds (metrics/definitions.py, CALL_WAIT_BUCKETS; a test
# keeps them equal): each is a service-level threshold the queue dashboard can show.
CALL_WAIT_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800)
SERVICE_LEVEL_THRESHOLDS = (10, 20, 30, 60)  # shown unless the viewer picks others


def _query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def series(title: str, unit: str, *targets: tuple[str, str], description: str = "", width: int = 8):
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(width)
    if description:
        panel = panel.description(description)
    for ref, (expr, legend) in zip("ABCDEFGH", targets, strict=False):
        panel = panel.with_target(_query(expr, legend, ref))
    return panel


def single(title: str, unit: str, expr: str, width: int = 4):
    return (
        stat.Panel()
        .title(title)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(4)
        .span(width)
        .with_target(_query(expr, title))
    )


def overview() -> dashboard.Dashboard:
    """Every KPI by queue, for the supervisors' wall screen."""
    board = (
        dashboard.Dashboard("cxpulse — contact centre overview")
        .uid("cxpulse-overview")
        .tags(["cxpulse", "contact-centre"])
        .refresh("30s")
        .time("now-6h", "now")
    )
    board = (
        board.with_row(dashboard.Row("Now"))
        .with_panel(single("Events / s", "ops", "cxpulse:events:rate5m"))
        .with_panel(single("Open tickets", "short", "sum(cxpulse_tickets_open)"))
        .with_panel(single("Oldest open ticket", "s", "max(cxpulse_oldest_open_ticket_age_seconds)"))
        .with_panel(single("Active customers", "short", "sum(cxpulse_customers_active)"))
        .with_panel(
            single("Retention today", "percentunit", 'max(cxpulse_customer_retention_ratio{period="day"})')
        )
        .with_panel(
            single("Churn this month", "percentunit", 'max(cxpulse_customer_churn_ratio{period="month"})')
        )
    )
    board = (
        board.with_row(dashboard.Row("Traffic"))
        .with_panel(
            series("Tickets created / s", "ops", ("queue:cxpulse_tickets_created:rate15m", "{{queue}}"))
        )
        .with_panel(series("Calls offered / s", "ops", ("queue:cxpulse_calls_offered:rate15m", "{{queue}}")))
        .with_panel(
            series(
                "Complaints / h",
                "short",
                ("sum by (queue) (rate(cxpulse_complaints_total[1h])) * 3600", "{{queue}}"),
            )
        )
    )
    board = (
        board.with_row(dashboard.Row("Tickets"))
        .with_panel(
            series(
                "First response time p90",
                "s",
                ("queue:cxpulse_first_response_seconds:p90_rate1h", "{{queue}}"),
                description="90th percentile of first agent replies over the last hour.",
            )
        )
        .with_panel(
            series(
                "First replies late against target",
                "percentunit",
                ("queue:cxpulse_first_response_sla_breach:ratio_rate15m", "{{queue}}"),
            )
        )
        .with_panel(
            series(
                "Escalation rate",
                "percentunit",
                ("queue:cxpulse_ticket_escalation:ratio_rate15m", "{{queue}}"),
            )
        )
        .with_panel(
            series("Open tickets (backlog)", "short", ("queue:cxpulse_tickets_open:sum", "{{queue}}"))
        )
        .with_panel(
            series(
                "Oldest open ticket",
                "s",
                ("max by (queue) (cxpulse_oldest_open_ticket_age_seconds)", "{{queue}}"),
            )
        )
        .with_panel(
            series(
                "Resolution time (mean, 1 h)",
                "s",
                ("queue:cxpulse_resolution_seconds:mean_rate1h", "{{queue}}"),
            )
        )
        .with_panel(
            series(
                "First contact resolution",
                "percentunit",
                ("queue:cxpulse_first_contact_resolution:ratio_rate1h", "{{queue}}"),
            )
        )
    )
    board = (
        board.with_row(dashboard.Row("Calls"))
        .with_panel(
            series(
                "Abandonment rate",
                "percentunit",
                ("queue:cxpulse_call_abandonment:ratio_rate15m", "{{queue}}"),
                description="Abandoned ÷ (offered − short abandons) over 15 minutes.",
            )
        )
        .with_panel(
            series(
                "Service level",
                "percentunit",
                ("queue:cxpulse_service_level:ratio_rate15m", "{{queue}}"),
                ("queue:cxpulse_service_level_target_ratio:max", "target {{queue}}"),
                description="Answered within the queue's threshold ÷ (offered − short abandons) over "
                "15 minutes, beside each queue's target.",
            )
        )
        .with_panel(
            series(
                "Speed of answer / handle time",
                "s",
                ("queue:cxpulse_call_wait_seconds:mean_rate15m", "ASA {{queue}}"),
                ("queue:cxpulse_call_handle_seconds:mean_rate1h", "AHT {{queue}}"),
            )
        )
    )
    board = (
        board.with_row(dashboard.Row("Customers"))
        .with_panel(series("CSAT", "percentunit", ("queue:cxpulse_csat:ratio_rate1h", "{{queue}}"), width=6))
        .with_panel(series("NPS", "short", ("queue:cxpulse_nps:score_rate1h", "{{queue}}"), width=6))
        .with_panel(series("CES (mean)", "short", ("queue:cxpulse_ces:mean_rate1h", "{{queue}}"), width=6))
        .with_panel(
            series(
                "Repeat contacts",
                "percentunit",
                ("queue:cxpulse_repeat_contact:ratio_rate1h", "{{queue}}"),
                width=6,
            )
        )
        .with_panel(
            series(
                "Retention and churn",
                "percentunit",
                (
                    'max by (period) (cxpulse_customer_retention_ratio{period=~"day|month"})',
                    "retention {{period}}",
                ),
                ('max by (period) (cxpulse_customer_churn_ratio{period=~"day|month"})', "churn {{period}}"),
                width=12,
            )
        )
        .with_panel(
            series(
                "Conversion after support (1 h)",
                "percentunit",
                (
                    'sum by (queue) (cxpulse_window_conversions{window="1h"}) / sum by (queue) '
                    '(cxpulse_window_contacts{window="1h"})',
                    "{{queue}}",
                ),
                width=12,
            )
        )
    )
    board = (
        board.with_row(dashboard.Row("Work and cost"))
        .with_panel(
            series(
                "Conversations per agent-hour",
                "short",
                ('avg by (queue) (cxpulse_resolutions_per_agent_hour{window="1h"})', "{{queue}}"),
                width=12,
            )
        )
        .with_panel(
            series(
                "Cost per conversation",
                "currencyEUR",
                ('avg by (queue) (cxpulse_cost_per_conversation{window="1h"})', "{{queue}}"),
                width=12,
            )
        )
    )
    return (
        board.with_row(dashboard.Row("Channel effectiveness"))
        .with_panel(
            series(
                "First response p90 by channel",
                "s",
                ("channel:cxpulse_first_response_seconds:p90_rate1h", "{{channel}}"),
            )
        )
        .with_panel(
            series("CSAT by channel", "percentunit", ("channel:cxpulse_csat:ratio_rate1h", "{{channel}}"))
        )
        .with_panel(
            series(
                "Resolutions / h by channel",
                "short",
                ("sum by (channel) (rate(cxpulse_tickets_resolved_total[1h])) * 3600", "{{channel}}"),
            )
        )
    )


def _variable(name: str, query: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(name.capitalize())
        .datasource(DATASOURCE)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .multi(True)
        .all_value(".*")
    )


def _thresholds() -> dashboard.CustomVariable:
    """The service-level thresholds the queue dashboard shows: any bounds of the call-wait histogram."""
    bounds = [f"{float(b)}" for b in CALL_WAIT_BUCKETS]
    shown = [b for b in bounds if float(b) in SERVICE_LEVEL_THRESHOLDS]
    return (
        dashboard.CustomVariable("sl_thresholds")
        .label("Service-level thresholds (s)")
        .values(",".join(bounds))
        .multi(True)
        .current(VariableOption(selected=True, text=shown, value=shown))
    )


def queue() -> dashboard.Dashboard:
    """One queue (and channel) in depth, from the worker's windowed gauges and histograms."""
    sel = 'queue=~"$queue", channel=~"$channel"'
    wait_buckets = f"sum by (le) (rate(cxpulse_call_wait_seconds_bucket{{{sel}}}[1h]))"
    return (
        dashboard.Dashboard("cxpulse — queue drill-down")
        .uid("cxpulse-queue")
        .tags(["cxpulse", "contact-centre"])
        .refresh("30s")
        .time("now-3h", "now")
        .with_variable(_variable("queue", "label_values(cxpulse_tickets_created_total, queue)"))
        .with_variable(
            _variable("channel", 'label_values(cxpulse_tickets_created_total{queue=~"$queue"}, channel)')
        )
        .with_variable(_thresholds())
        .with_row(dashboard.Row("Tickets"))
        .with_panel(
            series(
                "First response time",
                "s",
                (
                    f'avg by (channel) (cxpulse_first_response_mean_seconds{{{sel}, window="15m"}})',
                    "mean {{channel}}",
                ),
                (
                    f'max by (channel) (cxpulse_first_response_p90_seconds{{{sel}, window="1h"}})',
                    "p90 {{channel}}",
                ),
            )
        )
        .with_panel(
            series(
                "Created, escalated, resolved (15 min)",
                "short",
                (f'sum(cxpulse_window_tickets_created{{{sel}, window="15m"}})', "created"),
                (f'sum(cxpulse_window_tickets_escalated{{{sel}, window="15m"}})', "escalated"),
                (f'sum(cxpulse_window_tickets_resolved{{{sel}, window="15m"}})', "resolved"),
            )
        )
        .with_panel(
            series(
                "First replies in time by priority (1 h)",
                "percentunit",
                (
                    "avg by (priority) "
                    '(queue_priority:cxpulse_first_response_sla:ratio_rate1h{queue=~"$queue"})',
                    "{{priority}}",
                ),
                description="Share of the hour's first replies within the target of the ticket's priority "
                "(CXPULSE_PRIORITY_FIRST_RESPONSE_TARGETS; the queue's target where a priority has none), "
                "all channels of the queue.",
            )
        )
        .with_panel(
            series(
                "Backlog and oldest ticket",
                "short",
                (f"sum(cxpulse_tickets_open{{{sel}}})", "open tickets"),
                (f"max(cxpulse_oldest_open_ticket_age_seconds{{{sel}}}) / 3600", "oldest (hours)"),
            )
        )
        .with_panel(
            series(
                "New contacts against the same time of recent weeks (30 min)",
                "short",
                ('sum(queue:cxpulse_arrivals:increase30m{queue=~"$queue"})', "this week"),
                ('sum(queue:cxpulse_arrivals:expected_increase30m{queue=~"$queue"})', "usual"),
                ('sum(queue:cxpulse_arrivals:upper_increase30m{queue=~"$queue"})', "unusual above"),
                ('sum(queue:cxpulse_arrivals:lower_increase30m{queue=~"$queue"})', "unusual below"),
                description="Tickets created and calls offered over the last 30 minutes, beside the median "
                "of the last three weeks at the same time carried by each week's trend, and the band "
                "outside which CxpulseContactVolumeUnusual warns. All channels of the queue.",
            )
        )
        .with_panel(
            series(
                "Contacts per half-hour: forecast and actual",
                "short",
                (f'sum(cxpulse_forecast_contacts{{{sel}, interval="+0m"}})', "forecast"),
                (
                    f'sum(cxpulse_forecast_contacts{{{sel}, interval="+0m"}}) '
                    f'+ 2 * sqrt(sum(cxpulse_forecast_contacts{{{sel}, interval="+0m"}}))',
                    "forecast, high",
                ),
                (
                    f'clamp_min(sum(cxpulse_forecast_contacts{{{sel}, interval="+0m"}}) '
                    f'- 2 * sqrt(sum(cxpulse_forecast_contacts{{{sel}, interval="+0m"}})), 0)',
                    "forecast, low",
                ),
                (
                    f"sum(increase(cxpulse_calls_offered_total{{{sel}}}[30m])) "
                    f"+ sum(increase(cxpulse_tickets_created_total{{{sel}}}[30m]))",
                    "actual (last 30 min)",
                ),
                description="The forecast for the interval in progress (the mean of the same half-hour "
                "in recent weeks, today's correction applied) with its chance band (± two Poisson "
                "deviations), and the contacts that arrived over the last 30 minutes. Read with the "
                'default 30-minute forecast interval; docs/kpis.md, "Arrivals forecast".',
            )
        )
        .with_panel(
            series(
                "Agents needed in the next hours (Erlang A)",
                "short",
                (f"sum by (interval) (cxpulse_forecast_required_agents{{{sel}}})", "needed {{interval}}"),
                (f'sum(cxpulse_agents{{{sel}, state=~"available|busy|wrap_up"}})', "on the phones now"),
                description="Agents on the phones each forecast interval needs, by its offset from the "
                "current one, against the agents taking calls now.",
            )
        )
        .with_row(dashboard.Row("Calls"))
        .with_panel(
            series(
                "Abandonment and service level (15 min)",
                "percentunit",
                (f'avg(cxpulse_call_abandonment_ratio{{{sel}, window="15m"}})', "abandoned"),
                (f'avg(cxpulse_service_level_ratio{{{sel}, window="15m"}})', "service level"),
                ('max(cxpulse_service_level_target_ratio{queue=~"$queue"})', "service-level target"),
                ('max(cxpulse_abandonment_limit_ratio{queue=~"$queue"})', "abandonment limit"),
            )
        )
        .with_panel(
            series(
                "Service level by threshold (1 h)",
                "percentunit",
                (
                    f"sum by (le) (rate(cxpulse_call_wait_seconds_bucket{{{sel}, "
                    f'le=~"$sl_thresholds"}}[1h])) '
                    f"/ on () group_left () (sum(rate(cxpulse_calls_offered_total{{{sel}}}[1h])) "
                    f"- sum(rate(cxpulse_calls_short_abandoned_total{{{sel}}}[1h])))",
                    "within {{le}} s",
                ),
                description="Calls answered within each threshold ÷ (offered − short abandons) over the "
                "hour. Thresholds are the bounds of the call-wait histogram: pick them above.",
            )
        )
        .with_panel(
            series(
                "Wait time distribution (calls answered, 1 h)",
                "s",
                (f"histogram_quantile(0.5, {wait_buckets})", "p50"),
                (f"histogram_quantile(0.9, {wait_buckets})", "p90"),
            )
        )
        .with_panel(
            series(
                "Handle time (mean, 1 h)",
                "s",
                (f'avg by (channel) (cxpulse_call_handle_mean_seconds{{{sel}, window="1h"}})', "{{channel}}"),
            )
        )
        .with_panel(
            series(
                "Missed offers",
                "short",
                (f"sum(increase(cxpulse_agent_missed_offers_total{{{sel}}}[1h]))", "missed offers (1 h)"),
                (f"sum(cxpulse_agents_missing_offers{{{sel}}})", "agents missing offers now"),
                description="Offers that rang an agent who did not take them (rang out or rejected), "
                "and the agents shown as available who missed several in a row since their last change "
                "of state (CXPULSE_MISSED_OFFERS_IN_A_ROW).",
            )
        )
        .with_panel(
            series(
                "Transfers, holds and callbacks (1 h)",
                "short",
                *[
                    (f"sum(increase(cxpulse_{name}_total{{{sel}}}[1h]))", legend)
                    for name, legend in (
                        ("call_blind_transfers", "blind transfers"),
                        ("call_consult_transfers", "consult transfers"),
                        ("call_holds", "holds"),
                        ("callbacks_requested", "callbacks asked for"),
                        ("callbacks_handled", "callbacks made"),
                    )
                ],
                (
                    f"sum(increase(cxpulse_call_hold_seconds_total{{{sel}}}[1h])) "
                    f"/ clamp_min(sum(increase(cxpulse_call_holds_total{{{sel}}}[1h])), 1) / 60",
                    "mean hold (minutes)",
                ),
                description="Over the last hour: transfers by kind, holds and their mean length, callers "
                "who took a callback offer (not abandons) and callbacks that reached the caller.",
            )
        )
        .with_row(dashboard.Row("Customers"))
        .with_panel(
            series(
                "CSAT and FCR (1 h)",
                "percentunit",
                (f'avg(cxpulse_csat_ratio{{{sel}, window="1h"}})', "CSAT"),
                (f'avg(cxpulse_first_contact_resolution_ratio{{{sel}, window="1h"}})', "FCR"),
            )
        )
        .with_panel(
            series(
                "NPS (1 h)",
                "short",
                (f'avg by (channel) (cxpulse_nps_score{{{sel}, window="1h"}})', "{{channel}}"),
            )
        )
        .with_panel(
            series(
                "Agents and cost (1 h)",
                "short",
                (f'sum(cxpulse_window_active_agents{{{sel}, window="1h"}})', "active agents"),
                (f'avg(cxpulse_cost_per_conversation{{{sel}, window="1h"}})', "cost per conversation"),
            )
        )
    )


def operations() -> dashboard.Dashboard:
    """cxpulse itself: is the pipeline keeping up, is input clean, are workers healthy."""
    return (
        dashboard.Dashboard("cxpulse — operations")
        .uid("cxpulse-operations")
        .tags(["cxpulse", "operations"])
        .refresh("30s")
        .time("now-3h", "now")
        .with_row(dashboard.Row("Pipeline"))
        .with_panel(
            series(
                "Events / s by topic", "ops", ("sum by (topic) (rate(cxpulse_events_total[5m]))", "{{topic}}")
            )
        )
        .with_panel(
            series(
                "Invalid events / s by reason",
                "ops",
                ("topic_reason:cxpulse_events_invalid:rate5m", "{{topic}} {{reason}}"),
                description="Rejected records are parked on the dead-letter topic with their reason.",
            )
        )
        .with_panel(
            series(
                "Duplicates and late facts / s",
                "ops",
                ("sum(rate(cxpulse_events_duplicate_total[5m])) or vector(0)", "duplicate events"),
                ("sum(rate(cxpulse_events_late_total[5m])) or vector(0)", "late events"),
            )
        )
        .with_panel(
            series(
                "Processing delay p99 (event time → processed)",
                "s",
                (
                    "histogram_quantile(0.99, sum by (le) (rate(cxpulse_event_delay_seconds_bucket[5m])))",
                    "p99",
                ),
                (
                    "histogram_quantile(0.5, sum by (le) (rate(cxpulse_event_delay_seconds_bucket[5m])))",
                    "p50",
                ),
            )
        )
        .with_panel(
            series(
                "Consumer lag",
                "short",
                (
                    'sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup=~"cxpulse.*"})',
                    "{{topic}}",
                ),
            )
        )
        .with_panel(
            series(
                "Fact messages applied / s", "ops", ("sum(rate(cxpulse_fact_messages_total[5m]))", "applied")
            )
        )
        .with_row(dashboard.Row("Workers"))
        .with_panel(series("Workers up", "short", ('up{job="cxpulse"}', "{{instance}}")))
        .with_panel(
            series("Partitions owned", "short", ("cxpulse_worker_assigned_partitions", "{{instance}}"))
        )
        .with_panel(
            series(
                "Rebalances / h",
                "short",
                ("rate(cxpulse_worker_rebalances_total[1h]) * 3600", "{{instance}}"),
            )
        )
    )


# The wallboard colours each number against the queue's own target, read from the gauges the
# workers export (cxpulse_*_target_*): a number is shown as a share of its target where a colour
# depends on one, so the thresholds below are shares, the same for every queue.
ON_TARGET = [(None, "red"), (0.9, "orange"), (1.0, "green")]  # higher is better
WITHIN_TARGET = [(None, "green"), (0.5, "orange"), (1.0, "red")]  # lower is better


def big(
    title: str, unit: str, steps: list[tuple[float | None, str]], *targets: tuple[str, str], width: int = 3
):
    """A wallboard number, its background coloured by the thresholds ``steps`` (from, colour)."""
    panel = (
        stat.Panel()
        .title(title)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(5)
        .span(width)
        .color_mode(BigValueColorMode.BACKGROUND)
        .text_mode(BigValueTextMode.VALUE_AND_NAME if len(targets) > 1 else BigValueTextMode.VALUE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
        .thresholds(
            dashboard.ThresholdsConfig()
            .mode(ThresholdsMode.ABSOLUTE)
            .steps([Threshold(value=value, color=color) for value, color in steps])
        )
    )
    for ref, (expr, legend) in zip("ABCDEFGH", targets, strict=False):
        panel = panel.with_target(_query(expr, legend, ref))
    return panel


def next_hours(q: str):
    """The next forecast intervals of the queue: contacts, agents needed and on the rota, the gap."""
    columns = {
        "contacts": "cxpulse_forecast_contacts",
        "agents needed": "cxpulse_forecast_required_agents",
        "rota": "cxpulse_forecast_scheduled_agents",
        "short": "cxpulse_forecast_staffing_gap_agents",
    }
    panel = (
        table.Panel()
        .title("Next hours")
        .description(
            "Per forecast interval (offset from the current one): contacts forecast, agents "
            "needed on the phones (Erlang A), on the rota after shrinkage, and short against "
            "agents taking calls now."
        )
        .datasource(DATASOURCE)
        .height(5)
        .span(6)
        .with_transformation(DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "renameByName": {f"Value #{r}": name for r, name in zip("ABCD", columns, strict=True)},
                },
            )
        )
    )
    for ref, metric in zip("ABCD", columns.values(), strict=True):
        query = (
            _query(f"sum by (interval) ({metric}{{{q}}})", "{{interval}}", ref)
            .instant()
            .format(PromQueryFormat.TABLE)
        )
        panel = panel.with_target(query)
    return panel


def wallboard() -> dashboard.Dashboard:
    """What the floor watches now, one row per queue: big numbers coloured against the targets."""
    q = 'queue=~"$queue"'
    within = f'sum(cxpulse_window_calls_answered_within_sla{{{q}, window="15m"}})'
    offered = (
        f'sum(cxpulse_window_calls_offered{{{q}, window="15m"}}) '
        f'- sum(cxpulse_window_calls_short_abandoned{{{q}, window="15m"}})'
    )
    good, warn, bad = "green", "orange", "red"
    target = f"max(cxpulse_service_level_target_ratio{{{q}}})"
    threshold = f"max(cxpulse_service_level_threshold_seconds{{{q}}})"
    first_reply = f"max(cxpulse_first_response_target_seconds{{{q}}})"

    def today(name: str) -> str:
        """The queue's count (or seconds) so far today, over its channels."""
        return f"sum(cxpulse_today_{name}{{{q}}})"

    today_offered = f"{today('calls_offered')} - {today('calls_short_abandoned')}"
    board = (
        dashboard.Dashboard("cxpulse — wallboard")
        .uid("cxpulse-wallboard")
        .tags(["cxpulse", "contact-centre", "wallboard"])
        .refresh("10s")
        .time("now-15m", "now")
        .with_variable(_variable("queue", "label_values(cxpulse_calls_offered_total, queue)"))
        .with_row(dashboard.Row("$queue").repeat("queue"))
        .with_panel(
            big(
                "Callers waiting",
                "short",
                [(None, good), (5, warn), (15, bad)],
                (f"sum(cxpulse_calls_waiting{{{q}}})", "waiting"),
            )
        )
        .with_panel(
            big(
                "Longest wait, times the answer threshold",
                "short",
                [(None, good), (1, warn), (3, bad)],
                (f"max(cxpulse_longest_call_wait_seconds{{{q}}}) / {threshold}", "longest"),
            )
        )
        .with_panel(
            big(
                "Service level (15 min), share of target",
                "percentunit",
                ON_TARGET,
                (f"{within} / clamp_min({offered}, 1) / {target}", "service level"),
            )
        )
        .with_panel(
            big(
                "Agents",
                "short",
                [(None, "blue")],
                *[
                    (f'sum(cxpulse_agents{{{q}, state="{s}"}})', s)
                    for s in ("available", "busy", "wrap_up", "away")
                ],
                width=5,
            )
        )
        .with_panel(
            big(
                "Agents short (Erlang C)",
                "short",
                [(None, good), (0.5, warn), (2, bad)],
                (f"sum(cxpulse_staffing_gap_agents{{{q}}})", "short"),
                (f"sum(cxpulse_required_agents{{{q}}})", "required"),
            )
        )
        .with_panel(
            big(
                "Predicted service level, share of target",
                "percentunit",
                ON_TARGET,
                (f"min(cxpulse_predicted_service_level_ratio{{{q}}}) / {target}", "predicted"),
            )
        )
        .with_panel(
            big(
                "Occupancy (15 min)",
                "percentunit",
                [(None, warn), (0.6, good), (0.9, bad)],
                (f'avg(cxpulse_agent_occupancy_ratio{{{q}, window="15m"}})', "occupancy"),
            )
        )
        .with_panel(next_hours(q))
        .with_panel(
            big(
                "Today: calls",
                "short",
                [(None, "blue")],
                *[(today(f"calls_{name}"), name) for name in ("offered", "answered", "abandoned", "handled")],
                width=5,
            )
        )
        .with_panel(
            big(
                "Today: service level, share of target",
                "percentunit",
                ON_TARGET,
                (
                    f"{today('calls_answered_within_sla')} / clamp_min({today_offered}, 1) / {target}",
                    "service level",
                ),
            )
        )
        .with_panel(
            big(
                "Today: answer and handle time",
                "s",
                [(None, "blue")],
                (f"{today('answer_wait_seconds')} / clamp_min({today('calls_answered')}, 1)", "ASA"),
                (f"{today('handle_seconds')} / clamp_min({today('calls_handled')}, 1)", "AHT"),
            )
        )
        .with_panel(
            big(
                "Today: tickets",
                "short",
                [(None, "blue")],
                (today("tickets_created"), "created"),
                (today("ticket_first_responses"), "first replies"),
                (today("first_response_sla_breaches"), "late first replies"),
                (today("tickets_resolved"), "resolved"),
                width=5,
            )
        )
        .with_panel(
            big(
                "Tickets awaiting a first reply",
                "short",
                [(None, good), (50, warn), (200, bad)],
                (f'sum(cxpulse_tickets_open_by_status{{{q}, status="new"}})', "new"),
                (f'sum(cxpulse_tickets_open_by_status{{{q}, status="open"}})', "open"),
            )
        )
        .with_panel(
            big(
                "Oldest unanswered ticket, share of the first-reply target",
                "percentunit",
                WITHIN_TARGET,
                (f"max(cxpulse_oldest_unanswered_ticket_age_seconds{{{q}}}) / {first_reply}", "oldest"),
            )
        )
    )
    return board


# Agents one by one come from each worker's /agents JSON (docs/security.md: never Prometheus
# series), read by Grafana's Infinity data source with this uid.
AGENTS_DATASOURCE = DataSourceRef(type_val="yesoreyeram-infinity-datasource", uid="cxpulse-agents")
# /agents fields the table shows, with their headers and units (tests check each is served).
AGENT_COLUMNS = (
    ("agent", "agent", "string", None),
    ("name", "name", "string", None),
    ("state", "state", "string", None),
    ("seconds_in_state", "in state", "number", "s"),
    ("queues", "queues", "string", None),
    ("calls_handled_today", "calls today", "number", "short"),
    ("mean_handle_seconds_today", "AHT today", "number", "s"),
    ("occupancy_1h", "occupancy 1h", "number", "percentunit"),
    ("missed_offers_today", "missed today", "number", "short"),
    ("missed_in_a_row", "missed in a row", "number", "short"),
    ("flagged", "missing offers", "string", None),
)


class AgentsQuery(cogvariants.Dataquery):
    """An Infinity query of one worker's /agents: the "agents" list as a table."""

    def __init__(self, url: str) -> None:
        self.url = url

    def to_json(self) -> dict[str, object]:
        return {
            "refId": "A",
            "datasource": {"type": AGENTS_DATASOURCE.type_val, "uid": AGENTS_DATASOURCE.uid},
            "type": "json",
            "source": "url",
            "format": "table",
            "parser": "backend",
            "url": self.url,
            "url_options": {"method": "GET"},
            "root_selector": "agents",
            "columns": [
                {"selector": field, "text": header, "type": kind} for field, header, kind, _ in AGENT_COLUMNS
            ],
        }


class _Built(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, query: cogvariants.Dataquery) -> None:
        self.query = query

    def build(self) -> cogvariants.Dataquery:
        return self.query


def agents() -> dashboard.Dashboard:
    """Agents one by one, a table per worker (each serves the agents of the partitions it owns)."""
    worker = (
        dashboard.QueryVariable("worker")
        .label("Worker")
        .datasource(DATASOURCE)
        .query('label_values(up{job="cxpulse"}, instance)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .multi(True)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )
    scheme = (
        dashboard.CustomVariable("scheme")
        .label("Workers' scheme")
        .values("http,https")
        .current(VariableOption(selected=True, text="http", value="http"))
    )
    panel = (
        table.Panel()
        .title("Agents on $worker")
        .description(
            "Each agent's state and time in it, queues, calls handled and mean handle time today, "
            "occupancy over the last hour, and missed offers, from the worker's /agents (Infinity "
            "data source cxpulse-agents; docs/operations.md). Click a column to sort by it."
        )
        .datasource(AGENTS_DATASOURCE)
        .height(12)
        .span(24)
        .repeat("worker")
        .with_target(_Built(AgentsQuery("${scheme}://${worker}/agents")))
    )
    for _, header, _, unit in AGENT_COLUMNS:
        if unit:
            panel = panel.with_override(_named(header), [DynamicConfigValue(id_val="unit", value=unit)])
    busy = {
        "mode": "absolute",
        "steps": [{"color": "text", "value": None}, {"color": "orange", "value": 0.9}],
    }
    flagged = {"true": {"color": "red", "text": "yes"}, "false": {"color": "transparent", "text": ""}}
    states = {"away": {"color": "orange", "index": 0}, "available": {"color": "green", "index": 1}}
    for header, cells, more in (
        ("occupancy 1h", "color-text", DynamicConfigValue(id_val="thresholds", value=busy)),
        ("missing offers", "color-background", _mapping(flagged)),
        ("state", "color-text", _mapping(states)),
    ):
        cell = DynamicConfigValue(id_val="custom.cellOptions", value={"type": cells})
        panel = panel.with_override(_named(header), [cell, more])
    return (
        dashboard.Dashboard("cxpulse — agents")
        .uid("cxpulse-agents")
        .tags(["cxpulse", "contact-centre", "agents"])
        .refresh("10s")
        .time("now-15m", "now")
        .with_variable(worker)
        .with_variable(scheme)
        .with_panel(panel)
    )


def _named(field: str) -> MatcherConfig:
    return MatcherConfig(id_val="byName", options=field)


def _mapping(options: dict[str, dict[str, object]]) -> DynamicConfigValue:
    return DynamicConfigValue(id_val="mappings", value=[{"type": "value", "options": options}])


DASHBOARDS = {
    "overview": overview,
    "queue": queue,
    "operations": operations,
    "wallboard": wallboard,
    "agents": agents,
}


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if the JSON files differ, instead of writing"
    )
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    stale = []
    for name in DASHBOARDS:
        path = OUT / f"cxpulse-{name}.json"
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}; run python deploy/grafana/dashboards.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
