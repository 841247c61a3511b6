"""The forecast on a real Apache Kafka: the worker keeps weeks of arrival counts in its table,
forecasts from them exactly, and a restarted worker forecasts the same from the changelog."""

from __future__ import annotations

import time

import pytest
from helpers import agent, event, wait_for

from metrics.erlang_a import agents_to_schedule
from metrics.staffing import offered_erlangs, required_agents

pytestmark = pytest.mark.kafka

WEEK = 7 * 86400
HALF_HOUR = 1800


def call(call_id: str, at: float) -> list[dict]:
    """A call answered after 5 s and handled in 240 s."""
    return [
        event("call.queued", call_id, at, "billing", "phone"),
        event("call.answered", call_id, at + 5, "billing", "phone", agent_id="a1"),
        event("call.ended", call_id, at + 245, "billing", "phone", agent_id="a1"),
    ]


def forecast(worker, start: float) -> dict[tuple[str, str, str], float] | None:
    """The worker's forecast series for billing, by name, channel and interval, or None if the
    scrape was not in the interval at ``start``."""
    if time.time() // HALF_HOUR * HALF_HOUR != start:
        return None
    got = {
        (name, dict(labels)["channel"], dict(labels)["interval"]): value
        for (name, labels), value in worker.metrics().items()
        if name.startswith("cxpulse_forecast") and dict(labels)["queue"] == "billing"
    }
    return got if time.time() // HALF_HOUR * HALF_HOUR == start else None


def test_the_worker_forecasts_from_the_weeks_it_kept_and_again_after_a_restart(stack, kafka):
    from helpers import produce

    now = time.time()
    if now % HALF_HOUR > HALF_HOUR - 120:  # too close to the next interval for one test run
        time.sleep(HALF_HOUR - now % HALF_HOUR + 1)
        now = time.time()
    start = now // HALF_HOUR * HALF_HOUR  # the current interval (UTC: billing has no calendar)
    # The same half-hour a week ago: 12 calls, two weeks ago 8; the half-hour after it a week
    # ago, 6 calls (two weeks ago none). Tickets a week ago on another channel: their own forecast.
    events: list[dict] = []
    for weeks, n, offset in ((2, 8, 0), (1, 12, 0), (1, 6, HALF_HOUR)):
        for i in range(n):
            events += call(f"C{weeks}-{offset}-{i}", start - weeks * WEEK + offset + i * 60)
    events += [event("ticket.created", f"T{i}", start - WEEK + 30 * i, "billing", "email") for i in range(4)]
    events.sort(key=lambda e: e["occurred_at"])
    events.append(agent("available", "a1", now - 60))  # one agent on the phones now
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, stack.records(events))

    needed = required_agents(offered_erlangs(10, HALF_HOUR, 240.0), 240.0, 0.8, 20.0, 0.85).agents
    later = required_agents(offered_erlangs(3, HALF_HOUR, 240.0), 240.0, 0.8, 20.0, 0.85).agents
    want = {
        ("cxpulse_forecast_contacts", "phone", "+0m"): (12 + 8) / 2,
        ("cxpulse_forecast_contacts", "phone", "+30m"): (6 + 0) / 2,
        ("cxpulse_forecast_required_agents", "phone", "+0m"): needed,
        ("cxpulse_forecast_required_agents", "phone", "+30m"): later,
        ("cxpulse_forecast_scheduled_agents", "phone", "+0m"): agents_to_schedule(needed, 0.3),
        ("cxpulse_forecast_scheduled_agents", "phone", "+30m"): agents_to_schedule(later, 0.3),
        ("cxpulse_forecast_staffing_gap_agents", "phone", "+0m"): needed - 1,
        ("cxpulse_forecast_staffing_gap_agents", "phone", "+30m"): later - 1,
        # Tickets: one week of history so far, so last week's count; no agents for tickets.
        ("cxpulse_forecast_contacts", "email", "+0m"): 4.0,
        ("cxpulse_forecast_required_agents", "email", "+0m"): None,
    }

    def shows_the_forecast(w) -> bool:
        got = forecast(w, start)
        return got is not None and {k: got.get(k) for k in want} == want

    try:
        wait_for(lambda: shows_the_forecast(worker), 60, what=f"the forecast {want}")
    except AssertionError:
        raise AssertionError(f"{forecast(worker, start)}\n{worker.log_tail(30)}") from None
    worker.kill()
    restarted = stack.worker("restarted")
    restarted.wait_assigned(stack.partitions)
    wait_for(lambda: shows_the_forecast(restarted), 60, what="the same forecast after a restart")
