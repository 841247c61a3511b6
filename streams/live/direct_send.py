"""Send what a batch produces straight through aiokafka, one record batch per partition.

Faust's ``send_soon`` wraps each record in a future message, queues it in its producer buffer,
wakes a background task that serializes key and value and hands it to aiokafka, then chains a
callback onto aiokafka's future. Even aiokafka's own ``send`` makes a future and an accumulator
entry per record. Nearly every source event writes a state (a changelog record) and many a
contact or a fact message, so under catch-up that per-record machinery was the largest share
of the live worker's samples after Faust's consumer. The agents instead queue a batch's records
here; :meth:`DirectSend.send` groups them by topic and partition, fills one aiokafka
``BatchBuilder`` per partition (a new one when it is full) and submits each with
``send_batch``: a future per record batch, not per record. A batch is complete when submitted,
so aiokafka sends it at once rather than lingering for more records; ``send_batch`` waits while
the partition's previous batch is still queued, which holds the agent back when Kafka falls
behind.

Delivery before commit is kept: Faust's commit flushes the producer first, and the commit
barrier (:mod:`streams.delivery.commit_barrier`) then awaits :meth:`DirectSend.delivered`, which
waits for every batch handed to aiokafka and raises if Kafka refused one (a batch over the topic's
size limits, a missing permission): the offsets are then not committed, the worker stops with the
reason, and a restart reads those events again. A RocksDB store learns its changelog offset as
Faust would tell it (the last record of each partition and batch), so recovery after a restart
reads only what the store does not hold yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from streams.live.batched_table import Changelog, per_partition

# A grouped message is closed past this size: well inside Kafka's default 1 MB message limit.
GROUP_BYTES = 256 * 1024


def grouped_items(value: bytes, key: bytes) -> list[Any]:
    """The ``[key, message]`` pairs of a grouped message; a single message keyed by ``key`` (what
    a worker before grouping sent) is one pair."""
    decoded = orjson.loads(value)
    return decoded if isinstance(decoded, list) else [[key.decode(), decoded]]


class DirectSend:
    """The records one batch of an agent produces, until :meth:`send` hands them to aiokafka.

    ``producer`` returns the started aiokafka producer (the Faust app's, live).
    """

    def __init__(self, producer: Callable[[], Any]) -> None:
        self.producer = producer
        # (topic, partition, key, value, store to tell the offset or None)
        self._queue: list[tuple[str, int, bytes, bytes | None, Any]] = []
        self._grouped: list[tuple[str, bytes, bytes]] = []  # (topic, key, JSON item)
        # Agents share tables (the customers' is written by two): while one waits for room in
        # aiokafka's buffer, another's newer write of a key must not overtake the older one.
        self._lock = asyncio.Lock()
        # Records keyed for a topic go where Faust's send_soon would put them: Kafka's default
        # partitioner (murmur2 of the key) over the topic's partitions.
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}
        # Batches handed to aiokafka and not delivered yet, and the first refusal of any.
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._refused: BaseException | None = None

    def changelog(self, table: Any) -> Changelog:
        """What a :class:`~streams.live.batched_table.BatchedTable` calls per written key of ``table``."""
        topic, name = table.changelog_topic, table.changelog_topic_name
        key_serializer, value_serializer = table.key_serializer, table.value_serializer
        prepare_key, prepare_value = topic.prepare_key, topic.prepare_value
        # Only a store that keeps offsets (RocksDB) needs them; the memory store reads all.
        store = table.data if per_partition(table) else None
        queue = self._queue

        def write(partition: int, key: str, value: Any) -> None:
            raw_key = prepare_key(key, key_serializer)[0]
            raw_value = None if value is None else prepare_value(value, value_serializer)[0]
            queue.append((name, partition, raw_key, raw_value, store))

        return write

    def grouped(self, topic: str, key: bytes, item: bytes) -> None:
        """A JSON ``item`` for the partition of ``topic`` that ``key`` goes to, sent with the others there.

        The batch's items for one partition travel as one JSON array (a new one past
        ``GROUP_BYTES``), keyed by the first item's key: the consumer pays Faust's cost per
        message once for them all.
        """
        self._grouped.append((topic, key, item))

    async def send(self) -> int:
        """Hand every queued record to aiokafka, each partition's in order; returns how many."""
        if not self._queue and not self._grouped:
            return 0
        async with self._lock:
            producer = self.producer()
            if self._grouped:
                await self._queue_groups(producer)
            queue = self._queue[:]  # the tables' writers append to this very list
            self._queue.clear()
            by_partition: dict[tuple[str, int], list[tuple[bytes, bytes | None]]] = {}
            stores: dict[tuple[str, int], Any] = {}
            for topic, partition, key, value, store in queue:
                records = by_partition.get((topic, partition))
                if records is None:
                    records = by_partition[(topic, partition)] = []
                records.append((key, value))
                if store is not None:
                    stores[(topic, partition)] = store
            delivered = []
            for (topic, partition), records in by_partition.items():
                builder, in_builder = producer.create_batch(), 0
                for key, value in records:
                    if builder.append(timestamp=None, key=key, value=value) is None:
                        self._follow(await producer.send_batch(builder, topic, partition=partition), topic)
                        builder, in_builder = producer.create_batch(), 0
                        builder.append(timestamp=None, key=key, value=value)  # an empty batch takes any
                    in_builder += 1
                builder.close()  # complete: aiokafka sends it without lingering for more
                future = await producer.send_batch(builder, topic, partition=partition)
                self._follow(future, topic)
                store = stores.get((topic, partition))
                if store is not None:
                    delivered.append((future, store, in_builder - 1))
        for future, store, last in delivered:
            future.add_done_callback(partial(_persisted, store, last))
        return len(queue)

    def _follow(self, future: asyncio.Future[Any], topic: str) -> None:
        self._in_flight.add(future)
        future.add_done_callback(partial(self._settled, topic))

    def _settled(self, topic: str, future: asyncio.Future[Any]) -> None:
        self._in_flight.discard(future)
        if self._refused is None and not future.cancelled() and future.exception() is not None:
            self._refused = DeliveryRefused(topic, future.exception())

    async def delivered(self) -> None:
        """Wait for every batch handed to aiokafka; raise if Kafka refused any since the start."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight))
        if self._refused is not None:
            raise self._refused

    async def _queue_groups(self, producer: Any) -> None:
        groups: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
        partitions_of, partitioner = self._partitions, self._partitioner
        for topic, key, item in self._grouped:
            partitions = partitions_of.get(topic)
            if partitions is None:  # once per topic: the partitions aiokafka's metadata knows
                partitions = partitions_of[topic] = sorted(await producer.partitions_for(topic))
            partition = partitioner(key, partitions, partitions)
            groups.setdefault((topic, partition), []).append((key, item))
        self._grouped.clear()
        for (topic, partition), items in groups.items():
            parts: list[tuple[bytes, list[bytes]]] = []  # (first item's key, items) per message
            size = 0
            for key, item in items:
                if not parts or size + len(item) > GROUP_BYTES:
                    parts.append((key, []))
                    size = 0
                parts[-1][1].append(item)
                size += len(item) + 1
            for first, part in parts:
                self._queue.append((topic, partition, first, b"[" + b",".join(part) + b"]", None))


class DeliveryRefused(Exception):
    """Kafka refused a batch of changelog records or internal messages: they are not stored."""

    def __init__(self, topic: str, cause: BaseException | None) -> None:
        super().__init__(
            f"Kafka refused a record batch for {topic} ({type(cause).__name__}: {cause}); the offsets "
            "of the events behind it are not committed and the worker stops, so a restart reads them "
            "again. Check the topic's max.message.bytes and segment.bytes and the client's permissions."
        )
        self.topic, self.cause = topic, cause


def _persisted(store: Any, last: int, future: Any) -> None:
    """Tell the store the offset of the last record of a delivered batch (its base offset + ``last``)."""
    if not future.cancelled() and future.exception() is None:
        metadata = future.result()
        store.set_persisted_offset(metadata.topic_partition, metadata.offset + last)
