"""Where a replay reads history from: JSON Lines files, or a range of the Kafka topics.

Both yield :class:`streams.replay.driver.Record` in stored order and say up front how much there
is to read, so the command can show a progress bar.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from heapq import heappop, heappush
from pathlib import Path
from typing import Any

from metrics.contract.events import FAMILIES
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


class KafkaRange:
    """The records of the event topics from ``since`` (or the start) to the end offsets seen on opening.

    Partitions are merged by record timestamp, so the replayed stream's clock moves as the
    contact centre's did: read one partition after another, a day of one would push the
    others' events out of every window as late.
    """

    def __init__(
        self,
        access: KafkaAccess,
        topics: dict[str, str],
        since: float | None = None,
        until: float | None = None,
        timeout: float = 10.0,
    ) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.families = {topic: FAMILIES[family] for family, topic in topics.items()}
        self.until_ms = None if until is None else int(until * 1000)
        self.consumer = KafkaConsumer(
            **access.kafka_python(),
            enable_auto_commit=False,
            group_id=None,
            max_poll_records=20000,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            request_timeout_ms=int(timeout * 1000) + 5000,
        )
        parts = []
        for topic in self.families:
            found = self.consumer.partitions_for_topic(topic)
            if found is None:
                self.consumer.close()
                raise LookupError(f"topic {topic!r} does not exist on {access.broker}")
            parts += [TopicPartition(topic, p) for p in sorted(found)]
        self.consumer.assign(parts)
        ends = self.consumer.end_offsets(parts)
        if since is None:
            starts = self.consumer.beginning_offsets(parts)
        else:
            found_at = self.consumer.offsets_for_times({tp: int(since * 1000) for tp in parts})
            starts = {tp: ends[tp] if hit is None else hit.offset for tp, hit in found_at.items()}
        self.ends = {tp: end for tp, end in ends.items() if end > starts[tp]}
        for tp in parts:
            self.consumer.seek(tp, starts[tp])
        self.consumer.pause(*[tp for tp in parts if tp not in self.ends])
        self.total = sum(self.ends[tp] - starts[tp] for tp in self.ends)
        self.unit = "records"

    def __iter__(self) -> Iterator[tuple[Record | None, int]]:
        """Yield in timestamp order across partitions: the oldest head while every partition has one."""
        buffers: dict[Any, deque[Any]] = {tp: deque() for tp in self.ends}
        remaining = dict(self.ends)  # partitions not yet read to their end offset
        heads: list[tuple[int, int, Any]] = []  # (timestamp, tiebreak, tp) of each buffered head
        tiebreak = 0
        buffered = 0
        try:
            while buffers:
                if any(not buffers[tp] for tp in remaining) and buffered < MAX_BUFFERED:
                    for tp, messages in self.consumer.poll(timeout_ms=1000).items():
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
                    for tp, end in list(remaining.items()):
                        # The position, not the last record: a range may end in a transaction marker.
                        if self.consumer.position(tp) >= end:
                            del remaining[tp]
                            self.consumer.pause(tp)
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
            self.consumer.close()

    def _record(self, tp: Any, message: Any) -> Record | None:
        if self.until_ms is not None and message.timestamp > self.until_ms:
            return None  # written after the range: counted for progress only
        return Record(
            self.families[tp.topic], message.key, message.value, f"{tp.topic}:{tp.partition}", message.offset
        )
