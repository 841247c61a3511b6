"""When a recovering worker reads a changelog partition again (no broker needed)."""

from __future__ import annotations

import asyncio

import faust
from faust.types import TP

from streams.delivery.recovery_watchdog import PATIENCE_SECONDS, check, stranded, waiting

START = 1000.0


def test_a_partition_that_got_nothing_since_recovery_started_is_waiting_after_the_patience():
    applied = {"calls-changelog:1": -1, "calls-changelog:2": 40}
    highwaters = {"calls-changelog:1": 86, "calls-changelog:2": 40}  # :2 is complete
    assert waiting(START + PATIENCE_SECONDS - 1, START, applied, highwaters, {}) == {}
    assert waiting(START + PATIENCE_SECONDS, START, applied, highwaters, {}) == {"calls-changelog:1": 0}


def test_a_partition_still_receiving_records_is_not_waiting():
    applied = {"tickets-changelog:0": 10}
    highwaters = {"tickets-changelog:0": 500}
    now = START + 60
    assert waiting(now, START, applied, highwaters, {"tickets-changelog:0": now - 2}) == {}
    stalled = {"tickets-changelog:0": now - PATIENCE_SECONDS}
    assert waiting(now, START, applied, highwaters, stalled) == {"tickets-changelog:0": 11}


def test_a_partition_counts_as_stranded_only_if_the_consumer_is_past_the_record_needed():
    needed = {"a": 0, "b": 11, "c": 5}
    positions = {"a": 87, "b": 11, "c": None}  # b: not fetched yet; c: no position yet
    assert stranded(needed, positions) == {"a": 0}


def test_nothing_is_waiting_outside_a_recovery():
    assert waiting(START + 100, None, {"a": -1}, {"a": 5}, {}) == {}


class Consumer:
    """The two calls the watchdog makes on Faust's consumer, recorded."""

    def __init__(self, positions: dict) -> None:
        self.positions = positions
        self.seeks: list = []

    async def position(self, tp):
        return self.positions[tp]

    async def seek(self, tp, offset: int) -> None:
        self.seeks.append((tp, offset))


def test_a_faust_recovery_stuck_on_records_the_consumer_passed_is_sent_back_to_them():
    recovery = faust.App("cxpulse-watchdog-test", broker="kafka://127.0.0.1:1").tables.recovery
    stuck, moving = TP("app-call-state-changelog", 1), TP("app-ticket-state-changelog", 1)
    recovery.in_recovery = True
    recovery._recovery_started_at = START
    recovery.active_highwaters.update({stuck: 86, moving: 300})
    recovery.active_offsets.update({stuck: -1, moving: 120})
    recovery._active_events_received_at[moving] = START + 29
    consumer = Consumer({stuck: 87, moving: 200})
    assert asyncio.run(check(recovery, consumer, START + 30)) == 1
    assert consumer.seeks == [(stuck, 0)]
    recovery.in_recovery = False
    assert asyncio.run(check(recovery, consumer, START + 60)) == 0
