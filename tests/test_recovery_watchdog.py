"""When a recovering worker reads a changelog partition again (no broker needed)."""

from __future__ import annotations

from streams.recovery_watchdog import PATIENCE_SECONDS, stranded, waiting

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
