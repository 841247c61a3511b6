"""A batch's records reach aiokafka in order, serialized as Faust would, every batch."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from types import SimpleNamespace
from typing import Any

import faust

from streams.live.batched_table import BatchedTable
from streams.live.direct_send import DirectSend

TP = namedtuple("TP", "topic partition")


class RecordingProducer:
    """aiokafka's ``send`` as the agents use it: a future per record, resolved with its offset."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None, bytes, bytes | None]] = []
        self.futures: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, value: bytes | None, *, key: bytes, partition: int | None) -> Any:
        self.sent.append((topic, partition, key, value))
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future

    def deliver(self) -> None:
        for offset, future in enumerate(self.futures):
            topic, partition, _, _ = self.sent[offset]
            future.set_result(SimpleNamespace(topic_partition=TP(topic, partition), offset=offset))


class OffsetStore(dict[str, Any]):
    """A store that keeps changelog offsets, as RocksDB's does (it has per-partition databases)."""

    _dbs: dict[int, Any] = {}

    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict[Any, int] = {}

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted[tp] = offset


def make(store: Any = None) -> tuple[Any, RecordingProducer, Any, Any]:
    app = faust.App("cx", broker="kafka://localhost:1", key_serializer="raw", value_serializer="raw")
    producer = RecordingProducer()
    fake_app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
    states = app.Table("ticket-state", partitions=4, value_type=bytes)
    aggregates = app.Table("queue-kpis", partitions=4)
    if store is not None:
        states._data = store
    return DirectSend(fake_app), producer, states, aggregates


def test_a_batch_goes_out_in_order_serialized_as_faust_would_and_so_does_the_next():
    direct, producer, states, aggregates = make()
    entities = BatchedTable(states, direct.changelog(states), encoded=True)
    queues = BatchedTable(aggregates, direct.changelog(aggregates))

    async def batches() -> tuple[int, int]:
        entities["T1"] = {"_p": 2, "n": 1}
        queues["billing|email"] = {"partition": 1, "n": 3}
        entities.flush()
        queues.flush()
        direct.message("cx-kpi-facts", b"billing|email", b'{"f":1}')
        first = await direct.send()
        del entities["T1"]
        entities["T2"] = {"_p": 0}
        entities.flush()  # the second batch: its writes must not be lost
        return first, await direct.send()

    assert asyncio.run(batches()) == (3, 2)
    assert producer.sent == [
        ("cx-ticket-state-changelog", 2, b'"T1"', b'{"_p":2,"n":1}'),
        ("cx-queue-kpis-changelog", 1, b'"billing|email"', b'{"partition":1,"n":3}'),
        ("cx-kpi-facts", None, b"billing|email", b'{"f":1}'),
        ("cx-ticket-state-changelog", 2, b'"T1"', None),
        ("cx-ticket-state-changelog", 0, b'"T2"', b'{"_p":0}'),
    ]


def test_a_store_that_keeps_offsets_learns_each_partitions_last_one_once_delivered():
    store = OffsetStore()
    direct, producer, states, _ = make(store)
    entities = BatchedTable(states, direct.changelog(states), encoded=True)

    async def batch() -> None:
        for n, partition in enumerate((1, 3, 1)):
            entities[f"T{n}"] = {"_p": partition}
        entities.flush()
        await direct.send()
        assert store.persisted == {}  # nothing before Kafka confirms
        producer.deliver()
        await asyncio.sleep(0)

    asyncio.run(batch())
    changelog = "cx-ticket-state-changelog"
    assert store.persisted == {TP(changelog, 1): 2, TP(changelog, 3): 1}
