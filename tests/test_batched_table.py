"""Batched table writes and merged fact messages: one changelog record per key and batch, nothing lost."""

from __future__ import annotations

from typing import Any

from metrics.aggregates.queue import apply_facts, new_aggregate
from metrics.engine.steps import route
from streams.live.batched_table import BatchedTable
from streams.live.outbox import Outbox


class RecordingTable:
    """The two things a Faust table offers that BatchedTable uses: its store and its changelog."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.changelog: list[tuple[int, str, Any]] = []

    def send_changelog(
        self, partition: int, key: str, value: Any, value_serializer: str | None = None
    ) -> None:
        self.changelog.append((partition, key, None if value is None else dict(value)))


def test_writes_wait_for_flush_and_go_to_the_partition_their_value_names() -> None:
    table = RecordingTable()
    view = BatchedTable(table)
    view["T1"] = {"_p": 2, "n": 1}
    view["T1"] = {"_p": 2, "n": 2}
    view["Q"] = {"partition": 3, "n": 1}
    assert view.get("T1") == {"_p": 2, "n": 2} and table.data == {} and table.changelog == []
    assert view.flush() == 2
    assert table.changelog == [(2, "T1", {"_p": 2, "n": 2}), (3, "Q", {"partition": 3, "n": 1})]
    assert table.data == {"T1": {"_p": 2, "n": 2}, "Q": {"partition": 3, "n": 1}}


def test_a_deletion_is_a_tombstone_in_the_partition_the_value_lived_in() -> None:
    table = RecordingTable()
    table.data["T1"] = {"_p": 1}
    view = BatchedTable(table)
    del view["T1"]
    assert view.get("T1") is None and "T1" not in list(view)
    view.flush()
    assert table.changelog == [(1, "T1", None)] and table.data == {}


def test_buckets_reach_the_changelog_before_their_aggregate() -> None:
    table = RecordingTable()
    view = BatchedTable(table, first=lambda value: "start" in value)
    agg = new_aggregate("billing", "email", 0)
    fact = [120.0, {"tickets_created": 1}, {}, {}]
    apply_facts(agg, [fact], "tickets:0", 5, 60, 120, view)
    view["billing|email"] = agg
    apply_facts(agg, [[200.0, {"tickets_created": 1}, {}, {}]], "tickets:0", 6, 60, 120, view)
    view.flush()
    keys = [key for _, key, _ in table.changelog]
    assert keys == ["billing|email|120", "billing|email|180", "billing|email"]


def test_merged_fact_messages_apply_each_source_record_once_however_batches_fall() -> None:
    """A batch replayed after a crash overlaps the one applied before it: only new records count."""
    sent = [
        route(
            ["facts", "billing", "email", [[60.0 * i, {"tickets_created": 1}, {}, {}]]],
            "tickets:0",
            i,
            f"e{i}",
        )
        for i in range(1, 7)
    ]
    first, replayed = Outbox(), Outbox()
    first.add(sent[:4])  # records 1-4 sent before a crash
    replayed.add(sent[2:])  # after it, records 3-6 come again in one batch
    agg = new_aggregate("billing", "email", 0)
    buckets: dict[str, Any] = {}
    for outbox in (first, replayed):
        for target, _, message in outbox.messages():
            assert target == "facts"
            for offset, facts in message["records"]:
                apply_facts(agg, facts, message["source"], offset, 60, 10**9, buckets)
    assert agg["totals"]["tickets_created"] == 6
    assert sum(b["fields"].get("tickets_created", 0) for b in buckets.values()) == 6
