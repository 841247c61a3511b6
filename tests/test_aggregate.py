"""Event-time buckets, lateness, expiry and replay protection of the queue aggregates."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.aggregates.customers import active_customers, customer_periods
from metrics.aggregates.labels import admit_labels, new_label_record
from metrics.aggregates.queue import apply_facts, level_count, new_aggregate, new_customer_base, oldest_age
from metrics.aggregates.windows import window_sums, window_values
from metrics.definitions import CALL_WAIT_BUCKETS
from metrics.policy import Policy

B, GRACE = 60, 120
T0 = 1_700_000_080.0  # 40 s into a bucket
START = int(T0 // B * B)


class Queue:
    """One queue's aggregate with a dict standing in for the table that holds its buckets."""

    def __init__(self, grace: int = GRACE) -> None:
        self.agg = new_aggregate("billing", "phone", 2)
        self.table: dict[str, dict] = {}
        self.grace = grace

    def add(self, offset: int, *facts: list, source: str = "calls:0") -> bool:
        return apply_facts(self.agg, list(facts), source, offset, B, self.grace, self.table)

    def fields(self) -> dict[int, dict]:
        return {b["start"]: b["fields"] for b in self.table.values()}

    def window(self, now: float, seconds: int, hourly_cost: float = 30.0) -> dict[str, float]:
        return window_values(window_sums(self.table.values(), now, seconds, B), seconds, hourly_cost)


def f(at: float, counts: dict | None = None, obs: dict | None = None, **extra) -> list:
    return [at, counts or {}, obs or {}, extra]


def test_totals_histogram_and_buckets():
    q = Queue()
    q.add(1, f(T0, {"calls_offered": 1}))
    q.add(2, f(T0 + 12, {"calls_answered": 1}, {"call_wait_seconds": 12.0}))
    q.add(3, f(T0 + 100, {"calls_offered": 1}))
    assert q.agg["totals"] == {"calls_offered": 2, "calls_answered": 1}
    row = q.agg["hist"]["call_wait_seconds"]
    assert row[CALL_WAIT_BUCKETS.index(15.0)] == 1 and sum(row[:-1]) == 1 and row[-1] == 12.0
    assert q.fields() == {
        START: {
            "calls_offered": 1,
            "calls_answered": 1,
            "call_wait_seconds:sum": 12.0,
            "call_wait_seconds:count": 1,
        },
        START + 120: {"calls_offered": 1},
    }
    assert sorted(q.table) == [f"billing|phone|{START}", f"billing|phone|{START + 120}"]


def test_replayed_offsets_are_dropped():
    q = Queue()
    assert q.add(5, f(T0, {"calls_offered": 1}))
    assert not q.add(5, f(T0, {"calls_offered": 1}))
    assert not q.add(4, f(T0, {"calls_offered": 1}))
    assert q.add(4, f(T0, {"calls_offered": 1}), source="calls:1")
    assert q.agg["totals"] == {"calls_offered": 2}
    assert q.fields() == {START: {"calls_offered": 2}}


def test_a_bucket_that_survived_a_crash_is_not_counted_twice():
    q = Queue()
    q.add(1, f(T0, {"calls_offered": 1}))
    saved = copy.deepcopy(q.agg)  # the aggregate as it was before the next record
    q.add(2, f(T0 + 1, {"calls_offered": 1}))
    # Crash: the bucket's changelog write got through, the aggregate's did not.
    q.agg = saved
    assert q.add(2, f(T0 + 1, {"calls_offered": 1}))
    assert q.agg["totals"] == {"calls_offered": 2}
    assert q.fields() == {START: {"calls_offered": 2}}


def test_late_fact_counts_in_totals_not_in_windows():
    q = Queue()
    q.add(1, f(T0 + 600, {"calls_offered": 1}))
    # The bucket of T0 ended at START + 60; the watermark T0 + 600 is past that plus the 120 s grace.
    q.add(2, f(T0, {"calls_abandoned": 1}))
    assert q.agg["totals"] == {"calls_offered": 1, "calls_abandoned": 1}
    assert q.agg["late"] == 1
    assert all("calls_abandoned" not in fields for fields in q.fields().values())
    # Within the grace, an out-of-order fact still lands in its own bucket.
    q.add(3, f(T0 + 500, {"calls_abandoned": 1}))
    assert q.agg["late"] == 1
    assert q.fields()[int((T0 + 500) // B * B)] == {"calls_abandoned": 1}


def test_buckets_older_than_the_longest_window_expire():
    q = Queue()
    q.add(1, f(T0, {"calls_offered": 1}))
    q.add(2, f(T0 + 4000, {"calls_offered": 1}))
    assert list(q.fields()) == [int((T0 + 4000) // B * B)]
    assert q.agg["bucket_starts"] == [int((T0 + 4000) // B * B)]
    assert q.agg["totals"] == {"calls_offered": 2}


def test_windows_cover_the_current_bucket_and_whole_buckets_before():
    now = T0 + 3 * 3600
    q = Queue(grace=86400)
    q.add(1, f(now - 10, {"calls_offered": 1}))
    q.add(2, f(now - 250, {"calls_offered": 1, "calls_abandoned": 1}))
    q.add(3, f(now - 600, {"calls_offered": 1}))
    q.add(4, f(now - 3000, {"calls_offered": 1, "calls_answered": 1}, {"call_wait_seconds": 30.0}))
    five = q.window(now, 300)
    assert five["calls_offered"] == 2 and five["call_abandonment_ratio"] == 0.5
    assert "call_wait_seconds:mean" not in five
    hour = q.window(now, 3600)
    assert hour["calls_offered"] == 4 and hour["call_abandonment_ratio"] == 0.25
    assert hour["call_wait_seconds:mean"] == 30.0
    assert "ticket_escalation_ratio" not in hour  # nothing to divide by


def test_backlog_oldest_open_and_active_agents():
    q = Queue()
    opened = [["tickets_open", T0, 1], ["calls_waiting", T0 + 7.5, 1]]
    q.add(1, f(T0, {"tickets_created": 1}, levels=opened))
    q.add(2, f(T0 + 90, {"tickets_created": 1}, levels=[["tickets_open", T0 + 90, 1]]))
    resolved = [["tickets_open", T0, -1]]
    q.add(3, f(T0 + 100, {"tickets_resolved": 1}, {"resolution_seconds": 100.0}, levels=resolved, agent="a1"))
    q.add(4, f(T0 + 110, agent="a2"))
    q.add(5, f(T0 + 120, agent="a1"))
    assert q.agg["totals"]["tickets_open"] == 1
    assert oldest_age(q.agg, "tickets_open", T0 + 600) == T0 + 600 - (T0 + 90) // B * B
    # Callers wait seconds: their times are kept to the second, not the bucket.
    assert q.agg["totals"]["calls_waiting"] == 1
    assert oldest_age(q.agg, "calls_waiting", T0 + 60) == 60 - 7
    assert oldest_age(q.agg, "status:new", T0 + 60) is None
    # A caller whose answer never came stops counting after the horizon; its entry stays.
    assert level_count(q.agg, "calls_waiting", T0 + 60, 3600) == 1
    assert level_count(q.agg, "calls_waiting", T0 + 7.5 + 3601, 3600) == 0
    assert oldest_age(q.agg, "calls_waiting", T0 + 7.5 + 3601, 3600) is None
    # Agents keep the hour their state began: one with no change for 12 hours stops counting.
    q.add(6, f(T0, levels=[["agents:available", T0, 1], ["agents:busy", T0 + 600, 1]]))
    assert q.agg["levels"]["agents:available"] == {str(int(T0 // 3600 * 3600)): 1}
    assert level_count(q.agg, "agents:available", T0 + 60, 12 * 3600) == 1
    assert level_count(q.agg, "agents:available", T0 // 3600 * 3600 + 12 * 3600 + 1, 12 * 3600) == 0
    assert "agents:away" not in q.agg["levels"] and "status:open" not in q.agg["levels"]
    values = q.window(T0 + 200, 3600, hourly_cost=40.0)
    assert values["active_agents"] == 2
    assert values["resolutions_per_agent_hour"] == 0.5  # 1 resolution / (2 agents x 1 h)
    assert values["cost_per_conversation"] == 80.0  # 2 agent-hours x 40 / 1


def test_first_response_p90_interpolates_inside_its_bucket():
    q = Queue()
    for i, seconds in enumerate([10.0, 20.0, 40.0, 50.0, 70.0, 80.0, 90.0, 100.0, 110.0, 200.0]):
        q.add(i, f(T0, {"ticket_first_responses": 1}, {"first_response_seconds": seconds}))
    # rank 9 of 10: 4 values up to 60 s, then 5 in (60, 120]: 60 + 60 * (9 - 4) / 5
    assert q.window(T0, 300)["first_response_seconds:q0.9"] == 120.0


def test_customer_base_retention_and_churn():
    day = 1_700_006_400.0  # 2023-11-15 00:00 UTC
    agg = new_customer_base(0)
    table: dict = {}
    facts = [
        f(day - 3600, {"customers_joined": 1}),  # yesterday
        f(day + 60, {"customers_joined": 1}),
        f(day + 120, {"customers_churned": 1}),
    ]
    for i, fact in enumerate(facts):
        apply_facts(agg, [fact], "customers:0", i, B, 86400 * 40, table)
    assert table == {}  # the customer base keeps no windows
    periods = customer_periods(agg, day + 7200, base=10)
    # today: CS = 10 + 1 = 11, CN = 1, CE = 11; CRR = (11 - 1) / 11, churn = 1 / 11
    assert periods["day"] == (10 / 11, 1 / 11)
    assert periods["previous_day"] == (1.0, 0.0)  # CS 10, one join, no churn
    assert periods["month"] == (9 / 10, 1 / 10)  # CS 10, CN 2, CE 11
    assert active_customers(agg, 10) == 11


def test_a_partition_that_lags_behind_another_is_not_late():
    q = Queue()
    q.add(1, f(T0 + 1800, {"calls_offered": 1}), source="calls:0")  # partition 0 caught up first
    q.add(1, f(T0, {"calls_offered": 1}), source="calls:1")  # partition 1, half an hour behind
    assert q.agg["late"] == 0
    assert q.fields()[START] == {"calls_offered": 1}
    q.add(2, f(T0 - 3 * 3600, {"calls_offered": 1}), source="calls:1")  # behind every window: late
    assert q.agg["late"] == 1


def test_label_values_past_the_cap_fold_into_other():
    record = new_label_record(0)
    assert admit_labels(record, "billing", "email", 2) == ("billing", "email", True)
    assert admit_labels(record, "billing", "email", 2) == ("billing", "email", False)
    assert admit_labels(record, "sales", "chat", 2) == ("sales", "chat", True)
    assert admit_labels(record, "flood-1", "email", 2) == ("other", "email", True)
    assert admit_labels(record, "billing", "fax", 2) == ("billing", "other", True)
    assert admit_labels(record, "other", "other", 2) == ("other", "other", False)
    assert record["folded"] == {"queue": 1, "channel": 1}
    assert record["queue"] == ["billing", "sales"]


def test_fold_applies_once_and_sends_values_past_the_cap_on_to_other() -> None:
    from metrics.engine.fold import fold_into_aggregate
    from metrics.model import Fact, Sent

    table: dict = {}
    records = [[5, [f(100.0, {"tickets_created": 1})]], [6, [f(110.0, {"tickets_created": 2})]]]
    message = {"queue": "billing", "channel": "email", "source": "tickets:0", "records": records}
    assert fold_into_aggregate(table, "billing|email", message, 3, 1, 60, 120) == (2, [])
    assert fold_into_aggregate(table, "billing|email", message, 3, 1, 60, 120) == (0, [])  # redelivered
    assert table["billing|email"]["totals"] == {"tickets_created": 3}
    assert table["billing|email"]["partition"] == 3

    flood = {"queue": "flood-1", "channel": "email", "source": "tickets:1",
             "records": [[9, [f(120.0, {"tickets_created": 1}, clock="calls:2")]]]}  # fmt: skip
    applied, send_on = fold_into_aggregate(table, "flood-1|email", flood, 3, 1, 60, 120)
    assert applied == 0 and "flood-1|email" not in table
    moved = [Fact(120.0, {"tickets_created": 1}, {}, {"clock": "calls:2>3"})]
    sent = {
        "v": 1,
        "queue": "other",
        "channel": "email",
        "source": "tickets:1>3",
        "offset": 9,
        "facts": moved,
    }
    assert send_on == [Sent("facts", "other|email", sent)]
    assert table["~labels|3"]["folded"] == {"queue": 1}
    assert flood["records"][0][1][0][3] == {"clock": "calls:2"}  # the message itself is left as it was


def test_all_windows_in_one_pass_equal_each_window_alone() -> None:
    from metrics.aggregates.windows import windows_sums
    from metrics.definitions import WINDOWS

    buckets = [
        {"start": start, "fields": {"tickets_created": 1, "first_response_seconds:sum": start / 7},
         "agents": {f"a{start % 3}": 1}}
        for start in range(0, 7200, 60)
    ]  # fmt: skip
    now = 7200 - 30
    together = windows_sums(buckets, now, WINDOWS, 60)
    for window, seconds in WINDOWS.items():
        alone = window_sums(buckets, now, seconds, 60)
        assert together[window].keys() == alone.keys()
        for name, value in alone.items():
            assert abs(together[window][name] - value) <= 1e-9 * max(1.0, abs(value)), (window, name)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 9000), st.integers(1, 3), st.integers(0, 3)),
                max_size=60))  # fmt: skip
def test_settled_window_sums_between_scrapes_equal_summing_everything_again(changes) -> None:
    """Facts from several source partitions (each read from its first offset, 0) land anywhere in
    the last two and a half hours (late ones too) between scrapes that move on through time; the
    kept sums always equal a full re-summing."""
    from metrics.aggregates.windows import SettledWindows, windows_sums
    from metrics.definitions import WINDOWS

    q, settled = Queue(grace=10**6), SettledWindows()
    now = T0 + 9000.0
    offsets: dict[str, int] = {}
    for ahead, back, n, partition in changes:
        now += ahead
        source = f"calls:{partition}"
        offset = offsets[source] = offsets.get(source, -1) + 1
        q.add(
            offset,
            f(now - back, {"tickets_created": n}, {"resolution_seconds": float(back)}, agent=f"a{n}"),
            source=source,
        )
        buckets = [b for b in q.table.values() if "start" in b]
        kept = settled("billing|email", buckets, now, WINDOWS, B)
        assert kept == windows_sums(buckets, now, WINDOWS, B)
        settled.forget_unused()


def test_records_rerouted_to_other_from_two_queues_of_one_source_are_all_applied_once() -> None:
    """An agent in two folded queues sends two messages with the same offsets: other gets both."""
    from metrics.engine.fold import fold_into_aggregate
    from streams.live.outbox import Outbox

    table: dict = {}
    billing = {"queue": "billing", "channel": "email", "source": "tickets:0",
               "records": [[1, [f(110.0, {"tickets_created": 1})]]]}  # fmt: skip
    assert fold_into_aggregate(table, "billing|email", billing, 3, 1, 60, 120) == (1, [])
    outbox = Outbox()
    for queue, records in (
        ("flood-1", [[5, [f(120.0, {"tickets_created": 1})]], [9, [f(130.0, {"tickets_created": 2})]]]),
        ("flood-2", [[5, [f(120.0, {"tickets_created": 4})]], [7, [f(125.0, {"tickets_created": 8})]]]),
    ):
        message = {"queue": queue, "channel": "email", "source": "tickets:1", "records": records}
        applied, send_on = fold_into_aggregate(table, f"{queue}|email", message, 3, 1, 60, 120)
        assert applied == 0
        outbox.add(send_on)
    [(target, key, merged)] = outbox.messages()
    assert (target, key) == ("facts", "other|email")
    assert [offset for offset, _ in merged["records"]] == [5, 7, 9]
    assert fold_into_aggregate(table, key, merged, 3, 1, 60, 120) == (3, [])
    assert fold_into_aggregate(table, key, merged, 3, 1, 60, 120) == (0, [])  # redelivered
    assert table["other|email"]["totals"] == {"tickets_created": 15}


def test_internal_messages_of_the_previous_format_are_read_and_newer_ones_refused() -> None:
    """Messages written before formats were numbered have no "v"; a newer worker's would be misread."""
    from metrics.engine.fold import fold_into_aggregate
    from metrics.engine.steps import contact_hop
    from metrics.model import NewerFormat

    facts = [f(100.0, {"tickets_created": 1})]
    before = {"queue": "billing", "channel": "email", "source": "tickets:0", "offset": 5, "facts": facts}
    now = {**before, "v": 1, "offset": 6}
    table: dict = {}
    assert fold_into_aggregate(table, "billing|email", before, 0, 10, 60, 120) == (1, [])
    assert fold_into_aggregate(table, "billing|email", now, 0, 10, 60, 120) == (1, [])
    assert table["billing|email"]["totals"] == {"tickets_created": 2}
    with pytest.raises(NewerFormat, match=r"format 2 was written by a newer cxpulse.*finish upgrading"):
        fold_into_aggregate(table, "billing|email", {**now, "v": 2, "offset": 7}, 0, 10, 60, 120)
    assert table["billing|email"]["totals"] == {"tickets_created": 2}

    contact = {"event_id": "e1", "clock": "tickets:0", "at": 100.0, "queue": "billing", "channel": "email"}
    for message in (contact, {"v": 1, **contact}):
        event_id, step = contact_hop(message, Policy())
        state, _ = step(None)
        assert event_id == "e1" and state["contacts"][0][:3] == [100.0, "billing", "email"]
    with pytest.raises(NewerFormat):
        contact_hop({"v": 2, **contact}, Policy())
