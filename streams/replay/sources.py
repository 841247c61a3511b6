"""Where a replay reads history from: JSON Lines files, or a range of the Kafka topics.

Both yield :class:`streams.replay.driver.Record` in stored order and say up front how much there
is to read, so the command can show a progress bar.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from heapq import heappop, heappush
from pathlib import Path
from typing import Any

from metrics.contract.events import FAMILIES
from metrics.documents import JsonObject
from streams.cluster.access import KafkaAccess
from streams.replay.driver import Record, record_from_line


class JsonLines:
    """Events one per line, in the order they happened (any mix of families)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.total = sum(p.stat().st_size for p in paths)  # progress is counted in bytes
        self.unit = "bytes"

    def __iter__(self) -> Iterator[tuple[Record | None, int]]:
        """Records with the bytes each took, line numbers as offsets."""
        for path in self.paths:
            source = f"{path.name}:0"
            with open(path, "rb") as lines:
                for number, line in enumerate(lines, start=1):
                    stripped = line.strip()
                    if stripped:
                        yield record_from_line(stripped, source, number), len(line)


# Records held back for the merge at most; past it, the oldest buffered record goes first anyway.
MAX_BUFFERED = 500_000


def _number(partition: JsonObject) -> int:
    return int(partition["partition"])


class KafkaRange:
    """The records of the event topics from ``since`` (or the start) to the end offsets seen on opening.

    Partitions are merged by record timestamp, so the replayed stream's clock moves as the
    contact centre's did: read one partition after another, a day of one would push the
    others' events out of every window as late.

    Read with aiokafka (Faust's client, whose record batches are decoded in C) on an event loop
    of its own, driven one fetch at a time: the replay itself is plain synchronous code.
    """

    def __init__(
        self,
        access: KafkaAccess,
        topics: dict[str, str],
        since: float | None = None,
        until: float | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.families = {topic: FAMILIES[family] for family, topic in topics.items()}
        self.until_ms = None if until is None else int(until * 1000)
        self._loop = asyncio.new_event_loop()
        try:
            self.consumer, self.ends, self.total = self._loop.run_until_complete(
                self._open(access, since, timeout)
            )
        except BaseException:
            self._loop.close()
            raise
        self.unit = "records"

    async def _open(
        self, access: KafkaAccess, since: float | None, timeout: float
    ) -> tuple[Any, dict[Any, int], int]:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        request_timeout_ms = int(timeout * 1000) + 5000
        # Every topic's metadata, never named ones: naming a missing topic may create it.
        admin = AIOKafkaAdminClient(**access.aiokafka(), request_timeout_ms=request_timeout_ms)
        await admin.start()
        try:
            described = {t["topic"]: t for t in await admin.describe_topics()}
        finally:
            await admin.close()
        parts = []
        for topic in self.families:
            found = described.get(topic)
            if found is None or not found["partitions"]:
                raise LookupError(f"topic {topic!r} does not exist on {access.broker}")
            parts += [TopicPartition(topic, p["partition"]) for p in sorted(found["partitions"], key=_number)]
        consumer = AIOKafkaConsumer(
            **access.aiokafka(),
            enable_auto_commit=False,
            group_id=None,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            request_timeout_ms=request_timeout_ms,
        )
        await consumer.start()
        try:
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            if since is None:
                starts = await consumer.beginning_offsets(parts)
            else:
                found_at = await consumer.offsets_for_times({tp: int(since * 1000) for tp in parts})
                starts = {tp: ends[tp] if hit is None else hit.offset for tp, hit in found_at.items()}
            ends = {tp: end for tp, end in ends.items() if end > starts[tp]}
            for tp in parts:
                consumer.seek(tp, starts[tp])
            consumer.pause(*[tp for tp in parts if tp not in ends])
        except BaseException:
            await consumer.stop()
            raise
        return consumer, ends, sum(ends[tp] - starts[tp] for tp in ends)

    def __iter__(self) -> Iterator[tuple[Record | None, int]]:
        """Yield in timestamp order across partitions: the oldest head while every partition has one."""
        buffers: dict[Any, deque[Any]] = {tp: deque() for tp in self.ends}
        remaining = dict(self.ends)  # partitions not yet read to their end offset
        heads: list[tuple[int, int, Any]] = []  # (timestamp, tiebreak, tp) of each buffered head
        tiebreak = 0
        buffered = 0
        run = self._loop.run_until_complete
        try:
            while buffers:
                if any(not buffers[tp] for tp in remaining) and buffered < MAX_BUFFERED:
                    fetched, finished = run(self._fetch(remaining))
                    for tp, messages in fetched.items():
                        end = remaining.get(tp)
                        if end is None:
                            continue
                        buffer = buffers[tp]
                        fresh = not buffer
                        buffer.extend(m for m in messages if m.offset < end)
                        buffered += len(buffer) if fresh else len(messages)
                        if fresh and buffer:
                            tiebreak += 1
                            heappush(heads, (buffer[0].timestamp, tiebreak, tp))
                    for tp in finished:
                        del remaining[tp]
                    continue
                # Every open partition has a head (or the buffer is full): hand out the oldest
                # until an open partition runs dry.
                while heads:
                    _, _, tp = heappop(heads)
                    buffer = buffers[tp]
                    message = buffer.popleft()
                    buffered -= 1
                    yield self._record(tp, message), 1
                    if buffer:
                        tiebreak += 1
                        heappush(heads, (buffer[0].timestamp, tiebreak, tp))
                    elif tp in remaining:
                        break
                for tp in [tp for tp, b in buffers.items() if not b and tp not in remaining]:
                    del buffers[tp]
        finally:
            run(self.consumer.stop())
            self._loop.close()

    async def _fetch(self, remaining: dict[Any, int]) -> tuple[dict[Any, list[Any]], list[Any]]:
        """One fetch, and the partitions it read to their end (paused from now on)."""
        consumer = self.consumer
        fetched = await consumer.getmany(timeout_ms=1000)
        # The position, not the last record: a range may end in a transaction marker.
        finished = [tp for tp, end in remaining.items() if await consumer.position(tp) >= end]
        consumer.pause(*finished)
        return fetched, finished

    def _record(self, tp: Any, message: Any) -> Record | None:
        if self.until_ms is not None and message.timestamp > self.until_ms:
            return None  # written after the range: counted for progress only
        return Record(
            self.families[tp.topic], message.key, message.value, f"{tp.topic}:{tp.partition}", message.offset
        )
