"""A batch's records reach Kafka in order, serialized and partitioned as Faust would, every batch.

Run against the suite's real broker through a real aiokafka producer: what is read back from
the topics is what the agents' tables and outboxes wrote.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka_server import KafkaServer

from streams.cluster.access import KafkaAccess
from streams.cluster.topics import TopicSpec, ensure_topics
from streams.live.batched_table import BatchedTable
from streams.live.direct_send import DirectSend


class OffsetStore(dict[str, Any]):
    """A store that keeps changelog offsets, as RocksDB's does (it has per-partition databases)."""

    _dbs: dict[int, Any] = {}

    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict[tuple[str, int], int] = {}

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted[(tp.topic, tp.partition)] = offset


class Topics:
    """A fresh app id (so fresh changelog topics) and fact topic on the suite's broker."""

    def __init__(self, kafka: KafkaServer, store: Any = None) -> None:
        self.kafka = kafka
        tag = uuid.uuid4().hex[:8]
        app = faust.App(f"cx-{tag}", broker=kafka.url, key_serializer="raw", value_serializer="raw")
        self.states = app.Table("ticket-state", partitions=4, value_type=bytes)
        self.aggregates = app.Table("queue-kpis", partitions=4)
        if store is not None:
            self.states._data = store
        self.facts = f"facts-{tag}"
        self.state_log = self.states.changelog_topic_name
        self.aggregate_log = self.aggregates.changelog_topic_name
        ensure_topics(
            KafkaAccess(kafka.url),
            [TopicSpec(t, 4, 1) for t in (self.facts, self.state_log, self.aggregate_log)],
        )

    def read(self, topic: str) -> dict[int, list[tuple[bytes, bytes | None]]]:
        """Every record of ``topic``: (key, value) per partition, in offset order."""
        consumer = KafkaConsumer(bootstrap_servers=self.kafka.bootstrap, enable_auto_commit=False)
        parts = [TopicPartition(topic, p) for p in range(4)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        found: dict[int, list[tuple[bytes, bytes | None]]] = {}
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for tp, messages in consumer.poll(timeout_ms=2000).items():
                found.setdefault(tp.partition, []).extend((m.key, m.value) for m in messages)
        consumer.close()
        return found


async def sending(kafka: KafkaServer, work: Any) -> Any:
    """Run ``work(direct)`` with a started producer; everything is delivered when it returns."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    await producer.start()
    try:
        result = await work(DirectSend(lambda: producer))
        await producer.flush()
        return result
    finally:
        await producer.stop()


def test_a_batch_goes_out_in_order_serialized_as_faust_would_and_so_does_the_next(kafka: KafkaServer):
    topics = Topics(kafka)

    async def batches(direct: DirectSend) -> tuple[int, int]:
        entities = BatchedTable(topics.states, direct.changelog(topics.states), encoded=True)
        queues = BatchedTable(topics.aggregates, direct.changelog(topics.aggregates))
        entities["T1"] = {"_p": 2, "n": 1}
        queues["billing|email"] = {"partition": 1, "n": 3}
        entities.flush()
        queues.flush()
        direct.grouped(topics.facts, b"billing|email", b'["billing|email",{"f":1}]')
        first = await direct.send()
        del entities["T1"]
        entities["T2"] = {"_p": 0}
        entities["T3"] = {"_p": 2, "n": 2}
        entities.flush()  # the second batch: its writes must not be lost
        return first, await direct.send()

    assert asyncio.run(sending(kafka, batches)) == (3, 3)
    assert topics.read(topics.state_log) == {
        2: [(b'"T1"', b'{"_p":2,"n":1}'), (b'"T1"', None), (b'"T3"', b'{"_p":2,"n":2}')],
        0: [(b'"T2"', b'{"_p":0}')],
    }
    assert topics.read(topics.aggregate_log) == {1: [(b'"billing|email"', b'{"partition":1,"n":3}')]}
    # A keyed message lands where Kafka's default partitioner (here kafka-python's) puts its key.
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    expected = producer.send(topics.facts, key=b"billing|email", value=b"probe").get(timeout=30).partition
    producer.close()
    assert topics.read(topics.facts)[expected][0] == (b"billing|email", b'[["billing|email",{"f":1}]]')


def test_more_records_than_one_record_batch_holds_all_arrive_in_order(kafka: KafkaServer):
    topics = Topics(kafka)
    padding = "x" * 1000  # 64 states of ~1 KB: several of aiokafka's 16 KB record batches

    async def batch(direct: DirectSend) -> int:
        entities = BatchedTable(topics.states, direct.changelog(topics.states), encoded=True)
        for n in range(64):
            entities[f"T{n:02d}"] = {"_p": 3, "n": n, "pad": padding}
        entities.flush()
        return await direct.send()

    assert asyncio.run(sending(kafka, batch)) == 64
    records = topics.read(topics.state_log)
    assert list(records) == [3]
    assert [key for key, _ in records[3]] == [f'"T{n:02d}"'.encode() for n in range(64)]


def test_a_store_that_keeps_offsets_learns_each_partitions_last_one_once_delivered(kafka: KafkaServer):
    store = OffsetStore()
    topics = Topics(kafka, store)

    async def batches(direct: DirectSend) -> None:
        entities = BatchedTable(topics.states, direct.changelog(topics.states), encoded=True)
        for n, partition in enumerate((1, 3, 1)):
            entities[f"T{n}"] = {"_p": partition}
        entities.flush()
        await direct.send()
        assert store.persisted == {}  # nothing before Kafka confirms
        await direct.producer().flush()
        await asyncio.sleep(0)  # the delivery callbacks run
        assert store.persisted == {(topics.state_log, 1): 1, (topics.state_log, 3): 0}
        entities["T3"] = {"_p": 1}
        entities.flush()
        await direct.send()
        await direct.producer().flush()
        await asyncio.sleep(0)

    asyncio.run(sending(kafka, batches))
    assert store.persisted == {(topics.state_log, 1): 2, (topics.state_log, 3): 0}


def test_grouped_items_travel_one_message_per_partition_each_where_its_key_goes(kafka: KafkaServer):
    topics = Topics(kafka)
    customers = [f"cust-{n}" for n in range(40)]

    async def batch(direct: DirectSend) -> int:
        for n, customer in enumerate(customers):
            direct.grouped(topics.facts, customer.encode(), orjson.dumps([customer, {"n": n}]))
        return await direct.send()

    sent = asyncio.run(sending(kafka, batch))
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    home = {c: producer.send(topics.facts, key=c.encode(), value=b"").get(timeout=30) for c in customers}
    home = {c: metadata.partition for c, metadata in home.items()}
    producer.close()
    found = topics.read(topics.facts)
    items = {}
    for partition, records in found.items():
        grouped = [r for r in records if r[1]]  # the probes above are empty
        assert len(grouped) == 1  # one message per partition
        key, value = grouped[0]
        pairs = orjson.loads(value)
        assert key == pairs[0][0].encode()
        assert [item["n"] for _, item in pairs] == sorted(item["n"] for _, item in pairs)  # in order
        for customer, item in pairs:
            assert home[customer] == partition
            items[customer] = item["n"]
    assert sent == len({home[c] for c in customers}) == 4
    assert items == {c: n for n, c in enumerate(customers)}  # each exactly once


def test_grouped_items_past_the_size_of_one_message_continue_in_the_next_in_order(kafka: KafkaServer):
    topics = Topics(kafka)
    pad = "x" * 100_000  # two of these fit in GROUP_BYTES (256 KB), three do not

    async def batch(direct: DirectSend) -> int:
        for n in range(7):
            direct.grouped(
                topics.facts, b"billing|email", orjson.dumps(["billing|email", {"n": n, "pad": pad}])
            )
        return await direct.send()

    assert asyncio.run(sending(kafka, batch)) == 4
    [records] = topics.read(topics.facts).values()
    messages = [orjson.loads(value) for _, value in records]
    assert [[item["n"] for _, item in message] for message in messages] == [[0, 1], [2, 3], [4, 5], [6]]
