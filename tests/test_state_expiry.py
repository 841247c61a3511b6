"""Entity state is forgotten after its retention, partition by partition."""

from __future__ import annotations

from metrics.engine.expiry import SWEEP_EVERY, SWEEP_SECONDS, StateExpiry

DAY = 86400.0
NOW = 1_700_000_000.0


def test_silent_entities_of_the_swept_partition_are_deleted():
    table: dict = {}
    for i in range(10):
        state: dict = {}
        StateExpiry.touch(state, partition=i % 2, event_time=NOW - (40 if i < 6 else 1) * DAY)
        table[f"T{i}"] = state
    expiry = StateExpiry(table, retention_seconds=35 * DAY)
    assert expiry.sweep(partition=0, now=NOW) == 3  # T0, T2, T4: old and in partition 0
    assert sorted(table) == ["T1", "T3", "T5", "T6", "T7", "T8", "T9"]
    assert expiry.sweep(partition=1, now=NOW) == 3
    assert sorted(table) == ["T6", "T7", "T8", "T9"]


def test_touch_keeps_the_newest_event_time_and_sweeps_run_every_few_thousand_events():
    state: dict = {}
    StateExpiry.touch(state, 3, NOW)
    StateExpiry.touch(state, 3, NOW - 100)  # an older event arriving late
    assert state == {"_p": 3, "_seen": NOW}
    table = {"T": {"_p": 0, "_seen": NOW - 50 * DAY}}
    expiry = StateExpiry(table, 35 * DAY)
    deleted = [expiry.tick(0, now=NOW) for _ in range(SWEEP_EVERY)]
    assert deleted == [0] * (SWEEP_EVERY - 1) + [1]
    assert table == {} and expiry.expired == 1


def test_a_quiet_table_is_swept_as_time_passes():
    table = {"T": {"_p": 0, "_seen": NOW - 50 * DAY}}
    expiry = StateExpiry(table, 35 * DAY)
    assert expiry.tick(0, now=NOW) == 0
    assert expiry.tick(0, now=NOW + SWEEP_SECONDS - 1) == 0
    assert expiry.tick(0, now=NOW + SWEEP_SECONDS) == 1  # three events, thirty seconds
    assert table == {}
