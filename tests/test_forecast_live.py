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


def forecast(worker, start: float) -> tuple[int, dict[tuple[str, str, str], float]] | None:
    """Which half-hour after ``start`` the scrape fell in, and the worker's forecast series for
    billing by name, channel and interval; None if the scrape straddled a half-hour's end."""
    before = int((time.time() - start) // HALF_HOUR)
    got = {
        (name, dict(labels)["channel"], dict(labels)["interval"]): value
        for (name, labels), value in worker.metrics().items()
        if name.startswith("cxpulse_forecast") and dict(labels)["queue"] == "billing"
    }
    after = int((time.time() - start) // HALF_HOUR)
    return (before, got) if before == after else None


# Calls per half-hour from ``start`` on, a week and two weeks ago; tickets a week ago.
CALLS = {1: [12, 6, 14], 2: [8, 0, 4]}
TICKETS = [4, 2, 1]


def agents_for(calls: float) -> int:
    return required_agents(offered_erlangs(calls, HALF_HOUR, 240.0), 240.0, 0.8, 20.0, 0.85).agents


def expected(j: int) -> dict[tuple[str, str, str], float | None]:
    """The forecast in the ``j``-th half-hour from ``start`` (0 or 1): the mean of the same
    half-hour in the weeks the history holds (two for calls, one for tickets, which began a
    week ago), no correction (today forecast fewer than 20 contacts so far), agents by Erlang C
    at 240 s (nobody hung up), one agent on the phones now."""
    out: dict[tuple[str, str, str], float | None] = {}
    for k, label in ((j, "+0m"), (j + 1, "+30m")):
        contacts = (CALLS[1][k] + CALLS[2][k]) / 2
        needed = agents_for(contacts)
        out[("cxpulse_forecast_contacts", "phone", label)] = contacts
        out[("cxpulse_forecast_required_agents", "phone", label)] = needed
        out[("cxpulse_forecast_scheduled_agents", "phone", label)] = agents_to_schedule(needed, 0.3)
        out[("cxpulse_forecast_staffing_gap_agents", "phone", label)] = needed - 1
        out[("cxpulse_forecast_contacts", "email", label)] = float(TICKETS[k])
        out[("cxpulse_forecast_required_agents", "email", label)] = None  # no agents for tickets
    return out


def test_the_worker_forecasts_from_the_weeks_it_kept_and_again_after_a_restart(stack, kafka):
    from helpers import produce

    now = time.time()
    if now % HALF_HOUR > HALF_HOUR - 120:  # the next half-hour is near: start from it
        time.sleep(HALF_HOUR - now % HALF_HOUR + 1)
        now = time.time()
    start = now // HALF_HOUR * HALF_HOUR  # the current half-hour (UTC: billing has no calendar)
    events: list[dict] = []
    for weeks, counts in CALLS.items():
        for k, n in enumerate(counts):
            for i in range(n):
                events += call(f"C{weeks}-{k}-{i}", start - weeks * WEEK + k * HALF_HOUR + i * 60)
    for k, n in enumerate(TICKETS):
        at = start - WEEK + k * HALF_HOUR
        events += [event("ticket.created", f"T{k}-{i}", at + 30 * i, "billing", "email") for i in range(n)]
    events.sort(key=lambda e: e["occurred_at"])
    events.append(agent("available", "a1", now - 60))  # one agent on the phones now
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, stack.records(events))

    def shows_the_forecast(w) -> bool:
        """The forecast of the half-hour the scrape fell in (the test may run into the next)."""
        found = forecast(w, start)
        if found is None:
            return False
        j, got = found
        assert j <= 1, "the test ran past the history it wrote"
        want = expected(j)
        return {k: got.get(k) for k in want} == want

    try:
        wait_for(lambda: shows_the_forecast(worker), 60, what="the forecast")
    except AssertionError:
        raise AssertionError(f"{forecast(worker, start)}\n{worker.log_tail(30)}") from None
    worker.kill()
    restarted = stack.worker("restarted")
    restarted.wait_assigned(stack.partitions)
    wait_for(lambda: shows_the_forecast(restarted), 60, what="the same forecast after a restart")
