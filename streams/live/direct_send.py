"""Send what a batch produces straight through aiokafka, not record by record through Faust.

Faust's ``send_soon`` wraps each record in a future message, queues it in its producer buffer,
wakes a background task that serializes key and value and hands it to aiokafka, then chains a
callback onto aiokafka's future. Nearly every source event writes a state (a changelog record)
and many a contact or a fact message: under catch-up that machinery was a fifth of the live
worker's samples in py-spy. The agents instead queue a batch's records here and send them in
one pass, each an ``await`` of aiokafka's ``send`` (which returns at once unless its buffer is
full, and then holds the agent back, as it should).

Delivery before commit is kept: Faust's commit flushes the aiokafka producer first, and that
waits for every record already handed to it. A RocksDB store learns its changelog offset as
Faust would tell it (the last record of each partition and batch), so recovery after a restart
reads only what the store does not hold yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from streams.live.batched_table import per_partition

Changelog = Callable[[int, str, Any], None]  # (partition, key, value or None for a deletion)


class DirectSend:
    """The records one batch of an agent produces, until :meth:`send` hands them to aiokafka."""

    def __init__(self, app: Any) -> None:
        self.app = app
        # (topic, partition or None: by key, key, value, store to tell the offset or None)
        self._queue: list[tuple[str, int | None, bytes, bytes | None, Any]] = []
        # Agents share tables (the customers' is written by two): while one waits for room in
        # aiokafka's buffer, another's newer write of a key must not overtake the older one.
        self._lock = asyncio.Lock()

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

    def message(self, topic: str, key: bytes, value: bytes) -> None:
        """A record for ``topic``, partitioned by its key as Faust's ``send_soon`` would."""
        self._queue.append((topic, None, key, value, None))

    async def send(self) -> int:
        """Hand every queued record to aiokafka, in order; returns how many."""
        if not self._queue:
            return 0
        async with self._lock:
            queue = self._queue[:]  # the tables' writers append to this very list
            self._queue.clear()
            send = self.app.producer._ensure_producer().send  # faust's aiokafka producer
            last: dict[tuple[str, int | None], tuple[Any, Any]] = {}
            for topic, partition, key, value, store in queue:
                future = await send(topic, value, key=key, partition=partition)
                if store is not None:
                    last[(topic, partition)] = (store, future)
        for store, future in last.values():
            future.add_done_callback(partial(_persisted, store))
        return len(queue)


def _persisted(store: Any, future: Any) -> None:
    if not future.cancelled() and future.exception() is None:
        metadata = future.result()
        store.set_persisted_offset(metadata.topic_partition, metadata.offset)
