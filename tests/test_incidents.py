"""Scripted incidents in the simulator: inside an incident the queue behaves as on a bad day,
outside it as usual; and the command line that scripts them."""

from __future__ import annotations

from datetime import datetime

import click
import pytest

from streams.cli.simulate_command import parse_incident
from streams.simulator.centre_profiles import PROFILES
from streams.simulator.incidents import Incident
from streams.simulator.traffic import Traffic

MONDAY_8 = 1_780_297_200.0  # Monday 1 June 2026, 08:00 in London (07:00 UTC)


def at(event: dict) -> float:
    return datetime.fromisoformat(event["occurred_at"]).timestamp()


def test_an_understaffed_queue_loses_callers_and_a_stopped_feed_sends_nothing() -> None:
    understaffed = Incident("understaffed", MONDAY_8 + 3 * 3600, MONDAY_8 + 4 * 3600, "sales")
    stopped = Incident("feed_stopped", MONDAY_8 + 5 * 3600, MONDAY_8 + 5.5 * 3600)
    events = [
        e
        for _, _, e in Traffic(
            start=MONDAY_8 - 3600, seed=3, profile=PROFILES["small"], incidents=(understaffed, stopped)
        ).until(MONDAY_8 + 8 * 3600)
    ]
    queued = {e["call_id"]: at(e) for e in events if e["type"] == "call.queued" and e["queue"] == "sales"}

    def abandoned_share(start: float, end: float) -> float:
        calls = {c for c, t in queued.items() if start <= t < end}
        lost = {e["call_id"] for e in events if e["type"] == "call.abandoned" and e["call_id"] in calls}
        return len(lost) / len(calls)

    assert abandoned_share(understaffed.start, understaffed.end) > 0.4  # callers wait and hang up
    assert abandoned_share(MONDAY_8 + 3600, understaffed.start) < 0.1  # the same morning, staffed
    assert not [e for e in events if stopped.start <= at(e) < stopped.end]
    assert [e for e in events if stopped.end <= at(e) < stopped.end + 600]


def test_incidents_are_scripted_from_the_command_line() -> None:
    queues = PROFILES["small"].queues
    assert parse_incident("understaffed:sales:+10m:45m", 1000.0, queues) == Incident(
        "understaffed", 1600.0, 4300.0, "sales", "understaffed:sales:+10m:45m"
    )
    assert parse_incident("feed_stopped:*:-2h:30m", 10_000.0, queues).queue is None
    assert parse_incident("feed_stopped:*:-2h:30m", 10_000.0, queues).start == 2800.0
    for bad in ("understaffed:sales:10m", "outage:sales:+1m:5m", "understaffed:nowhere:+1m:5m"):
        with pytest.raises(click.BadParameter):
            parse_incident(bad, 0.0, queues)
