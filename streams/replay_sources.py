"""Where a replay reads history from: JSON Lines files, or a range of the Kafka topics.

Both yield :class:`streams.replay.Record` in stored order and say up front how much there
is to read, so the command can show a progress bar.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from streams.events import FAMILIES
from streams.replay import Record, record_from_line
from streams.topics import bootstrap_servers


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


class KafkaRange:
    """The records of the event topics from ``since`` (or the start) to the end offsets seen on opening.

    Partitions are read interleaved, in the consumer's fetch order, as a live worker reads them.
    """

    def __init__(
        self,
        broker: str,
        topics: dict[str, str],
        since: float | None = None,
        until: float | None = None,
        timeout: float = 10.0,
    ) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.families = {topic: FAMILIES[family] for family, topic in topics.items()}
        self.until_ms = None if until is None else int(until * 1000)
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers(broker),
            enable_auto_commit=False,
            group_id=None,
            max_poll_records=5000,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            request_timeout_ms=int(timeout * 1000) + 5000,
        )
        parts = []
        for topic in self.families:
            found = self.consumer.partitions_for_topic(topic)
            if found is None:
                self.consumer.close()
                raise LookupError(f"topic {topic!r} does not exist on {broker}")
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
        open_parts = dict(self.ends)
        try:
            while open_parts:
                batch = self.consumer.poll(timeout_ms=1000)
                for tp, messages in batch.items():
                    end = open_parts.get(tp)
                    if end is None:
                        continue
                    family = self.families[tp.topic]
                    source = f"{tp.topic}:{tp.partition}"
                    for message in messages:
                        if message.offset >= end:
                            break
                        if self.until_ms is None or message.timestamp <= self.until_ms:
                            yield Record(family, message.key, message.value, source, message.offset), 1
                        else:
                            yield None, 1  # written after the range: counted for progress only
                    if messages and messages[-1].offset >= end - 1:
                        del open_parts[tp]
                        self.consumer.pause(tp)
        finally:
            self.consumer.close()
