"""Benchmark stages that run in their own process, so each one's peak memory is its own.

    python bench/stages.py bare BOOTSTRAP N TOPIC...         # aiokafka consumer decoding each event
    python bench/stages.py faust-noop BOOTSTRAP N TOPIC...   # a Faust agent per topic that only decodes
    python bench/stages.py replay BOOTSTRAP OUT              # cxpulse replay over the topics (CXPULSE_*)

Each prints one JSON line last: events, seconds from the first event to the last, peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def report(events: int, first: float, last: float, **extra: object) -> None:
    line = json.dumps(
        {"events": events, "seconds": last - first, "peak_rss_mb": round(peak_rss_mb(), 1), **extra}
    )
    os.write(1, (line + "\n").encode())  # fd 1 itself: a Faust worker routes sys.stdout into its log


async def bare(bootstrap: str, n: int, topics: list[str]) -> None:
    """The Python limit: fetch and decode every event, nothing else."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.settings import Settings

    consumer = AIOKafkaConsumer(
        **Settings(broker=f"kafka://{bootstrap}").kafka().aiokafka(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    partitions = int(os.environ.get("BENCH_PARTITIONS", "4"))
    parts = [TopicPartition(t, p) for t in topics for p in range(partitions)]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    count = 0
    loads = orjson.loads
    first = time.perf_counter()  # fetching is part of the work measured
    while count < n:
        batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
        for messages in batch.values():
            for message in messages:
                loads(message.value)
            count += len(messages)
    report(count, first, time.perf_counter())
    await consumer.stop()


def faust_noop(bootstrap: str, n: int, topics: list[str]) -> None:
    """Faust's floor: one agent per topic that decodes each event and does nothing else."""
    import faust

    from streams.settings import Settings

    app = faust.App(
        f"bench-noop-{os.getpid()}",
        broker=f"kafka://{bootstrap}",
        broker_credentials=Settings(broker=f"kafka://{bootstrap}").kafka().faust_credentials(),
        store="memory://",
        value_serializer="raw",
        key_serializer="raw",
        web_port=int(os.environ.get("BENCH_WEB_PORT", "6098")),
        web_bind="127.0.0.1",
        consumer_auto_offset_reset="earliest",
    )
    state = {"count": 0, "first": 0.0}

    async def decode(stream: object) -> None:
        loads = orjson.loads
        async for record in stream.events():  # type: ignore[attr-defined]
            loads(record.value)
            state["count"] += 1
            if state["count"] == 1:
                state["first"] = time.perf_counter()
            if state["count"] >= n:
                report(state["count"], state["first"], time.perf_counter())
                os._exit(0)

    for topic in topics:
        app.agent(app.topic(topic, value_serializer="raw", key_serializer="raw"), name=f"noop-{topic}")(
            decode
        )
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()


def replay(bootstrap: str, out: str) -> None:
    """``cxpulse replay --kafka`` as a user runs it, timed from its first record to its end."""
    from streams.replay.driver import Replay, run
    from streams.replay.sources import KafkaRange
    from streams.settings import Settings

    settings = Settings(broker=f"kafka://{bootstrap}")
    topics = settings.source_topics()
    from metrics.export.openmetrics import OpenMetricsWriter
    from streams.cli.gc_tuning import tune_gc

    tune_gc()  # as `cxpulse replay` does
    source = KafkaRange(settings.kafka(), topics)
    engine = Replay(settings)
    engine.keep_rejections = False
    writer = OpenMetricsWriter(Path(out))
    marks = {"first": 0.0, "count": 0}

    def records():  # type: ignore[no-untyped-def]
        for record, _ in source:
            if record is not None:
                if not marks["count"]:
                    marks["first"] = time.perf_counter()
                marks["count"] += 1
                yield record

    run(engine, records(), 60.0, lambda at: engine.snapshot(writer.sink, at))
    assert engine.clock is not None
    engine.snapshot(writer.sink, engine.clock)
    samples = writer.close()
    totals: dict[str, float] = {}
    for family in engine.families(engine.clock):
        for sample in family.samples:
            if sample.name.endswith("_total"):
                totals[sample.name] = totals.get(sample.name, 0) + sample.value
    report(int(marks["count"]), marks["first"], time.perf_counter(), samples=samples, totals=totals)


def main() -> None:
    stage, *args = sys.argv[1:]
    if stage == "bare":
        asyncio.run(bare(args[0], int(args[1]), args[2:]))
    elif stage == "faust-noop":
        faust_noop(args[0], int(args[1]), args[2:])
    elif stage == "replay":
        replay(args[0], args[1])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
