"""Batched table writes and merged fact messages: one changelog record per key and batch, nothing lost."""

from __future__ import annotations

from collections import namedtuple
from types import SimpleNamespace
from typing import Any

import orjson

from metrics import model
from metrics.aggregates.queue import apply_facts, new_aggregate
from metrics.engine.expiry import StateExpiry
from metrics.engine.steps import process_entity, route
from metrics.model import Fact, QueueFacts
from streams.live.batched_table import BatchedTable, encode
from streams.live.confirmed_payloads import ConfirmedPayloads
from streams.live.outbox import Outbox

TP = namedtuple("TP", "topic partition")


class RecordingTable:
    """A Faust table as BatchedTable sees it (its store, owners), with a changelog writer that records."""

    changelog_topic_name = "app-ticket-state-changelog"

    def __init__(self, owned: tuple[int, ...] = (0, 1, 2, 3)) -> None:
        self.data: dict[str, Any] = {}
        self.changelog: list[tuple[int, str, Any]] = []
        actives = {TP(self.changelog_topic_name, p) for p in owned} | {TP("tickets", 9)}
        self.app = SimpleNamespace(assignor=SimpleNamespace(assigned_actives=lambda: actives))

    def send_changelog(self, partition: int, key: str, value: Any) -> None:
        copied = value if value is None or isinstance(value, bytes) else dict(value)
        self.changelog.append((partition, key, copied))


def test_writes_wait_for_flush_and_go_to_the_partition_their_value_names() -> None:
    table = RecordingTable()
    view = BatchedTable(table, table.send_changelog)
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
    view = BatchedTable(table, table.send_changelog)
    del view["T1"]
    assert view.get("T1") is None and "T1" not in list(view)
    view.flush()
    assert table.changelog == [(1, "T1", None)] and table.data == {}


def test_buckets_reach_the_changelog_before_their_aggregate() -> None:
    table = RecordingTable()
    view = BatchedTable(table, table.send_changelog, first=lambda value: "start" in value)
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
            QueueFacts("billing", "email", [Fact(60.0 * i, {"tickets_created": 1}, {}, {})]),
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


def test_an_encoded_table_stores_and_sends_json_text_once_and_reads_dicts_back() -> None:
    table = RecordingTable()
    view = BatchedTable(table, table.send_changelog, encoded=True)
    view["T1"] = {"_p": 1, "status": "new"}
    view.flush()
    assert table.data == {"T1": b'{"_p":1,"status":"new"}'}
    assert table.changelog == [(1, "T1", b'{"_p":1,"status":"new"}')]
    assert view["T1"] == {"_p": 1, "status": "new"} and view.get("T2") is None
    assert dict(view.items()) == {"T1": {"_p": 1, "status": "new"}}


def test_expiry_of_an_in_memory_table_reaches_every_owned_partition_from_any_and_lists_keys_only() -> None:
    table = RecordingTable(owned=(0, 1))  # partition 2 moved to another worker
    view = BatchedTable(table, table.send_changelog, encoded=True)
    for i in range(6):
        view[f"T{i}"] = {"_p": i % 3, "_seen": 100.0 if i < 4 else 10_000.0}
    view.flush()
    assert view.sweep_scope(2) is None and sorted(view.keys_in(None)) == [f"T{i}" for i in range(6)]
    assert view.owned() == {0, 1}
    expiry = StateExpiry(view, retention_seconds=1000.0)
    assert expiry.sweep(partition=0, now=5000.0) == 3  # T0, T1, T3; T2's partition is not ours
    view.flush()
    assert sorted(table.data) == ["T2", "T4", "T5"]
    assert sorted(table.changelog[-3:]) == [(0, "T0", None), (0, "T3", None), (1, "T1", None)]


def test_a_stored_state_drops_its_payload_once_its_record_is_committed_and_not_before() -> None:
    table = RecordingTable()
    view = BatchedTable(table, table.send_changelog, encoded=True)
    committed: dict[Any, int] = {}
    confirmed = ConfirmedPayloads(view, committed.get)
    tp = TP("tickets", 3)

    def step(state: Any) -> tuple[dict, list]:
        return {}, [QueueFacts("billing", "email", [Fact(120.0, {"tickets_created": 1}, {}, {})])]

    status, sent = process_entity(view, "T1", "e1", step, "tickets:3", 41, 120.0, committed=None)
    view.flush()
    confirmed.written(tp, 41, "T1")
    before = orjson.loads(table.data["T1"])["ledger"]
    assert (
        status == "new"
        and before["e1"][0] == "tickets:3:41"
        and orjson.loads(before["e1"][1]) == orjson.loads(model.encode(sent))
    )
    assert confirmed.forget() == 0  # nothing committed yet: a redelivery must send it again
    committed[tp] = 41
    assert confirmed.forget() == 0  # 41 itself is not yet behind the commit
    changelog = list(table.changelog)
    committed[tp] = 42
    assert confirmed.forget() == 1 and confirmed.forgotten == 1
    assert orjson.loads(table.data["T1"])["ledger"] == {"e1": ["tickets:3:41", ""]}
    assert table.changelog == changelog  # the store only: the changelog keeps what was written
    assert process_entity(view, "T1", "e1", step, "tickets:3", 41, 120.0)[0] == "replay"


def test_a_stored_state_takes_the_size_of_its_text_not_of_the_encoders_buffer() -> None:
    import sys

    state = {"_p": 1, "ledger": {"e1": ["tickets:1:7", "x" * 300]}}
    text = orjson.dumps(state)
    assert encode(state) == text
    assert sys.getsizeof(encode(state)) == sys.getsizeof(b"") + len(text)
