"""The peer: cxpulse's three core KPIs computed the idiomatic Quix Streams way.

First response time, escalations and abandoned calls per queue and channel in one-minute
event-time windows: a stateful ``apply`` per ticket and per call (state in Quix's RocksDB
store, with changelog topics), ``group_by`` queue|channel (a repartition topic), then a
tumbling window ``reduce``. Run by ``bench/run.py``:

    python bench/peers/quix_kpis.py BOOTSTRAP TICKETS_TOPIC CALLS_TOPIC N_EVENTS

It stops once it has processed all N_EVENTS source events and every fact they produced,
and prints one JSON line: events, seconds from the first event to the last, peak RSS.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from quixstreams import Application, State


def event_time_ms(value: Any, headers: Any, timestamp: float, timestamp_type: Any) -> int:
    return int(datetime.fromisoformat(value["occurred_at"]).timestamp() * 1000)


def ticket_fact(event: dict, state: State) -> dict | None:
    """One ticket's events in, at most one KPI fact out."""
    at = datetime.fromisoformat(event["occurred_at"]).timestamp()
    kind = event["type"]
    fact = {"queue": event["queue"], "channel": event["channel"], "escalated": 0, "frt": None, "abandoned": 0}
    if kind == "ticket.created":
        if state.get("created") is None:
            state.set("created", at)
        return None
    if kind == "ticket.replied" and event.get("author") == "agent" and not state.get("responded", False):
        created = state.get("created")
        if created is None:
            return None
        state.set("responded", True)
        fact["frt"] = max(0.0, at - created)
        return fact
    if kind == "ticket.escalated" and not state.get("escalated", False):
        state.set("escalated", True)
        fact["escalated"] = 1
        return fact
    return None


def call_fact(event: dict, state: State) -> dict | None:
    kind = event["type"]
    if kind == "call.queued":
        return None
    if kind == "call.answered":
        state.set("answered", True)
        return None
    if kind == "call.abandoned" and not state.get("answered", False):
        return {
            "queue": event["queue"],
            "channel": event["channel"],
            "escalated": 0,
            "frt": None,
            "abandoned": 1,
        }
    return None


def add(window: dict, fact: dict) -> dict:
    window["escalated"] += fact["escalated"]
    window["abandoned"] += fact["abandoned"]
    if fact["frt"] is not None:
        window["frt_count"] += 1
        window["frt_sum"] += fact["frt"]
    return window


def start(fact: dict) -> dict:
    return add({"escalated": 0, "abandoned": 0, "frt_count": 0, "frt_sum": 0.0}, fact)


def main() -> None:
    bootstrap, tickets_topic, calls_topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    from streams.settings import Settings

    # The same TLS and SASL settings (CXPULSE_KAFKA_*) as every other client of the benchmark.
    security = Settings(broker=f"kafka://{bootstrap}").kafka().librdkafka()
    del security["bootstrap.servers"]
    app = Application(
        broker_address=bootstrap,
        consumer_extra_config=security,
        producer_extra_config=security,
        consumer_group=f"quix-peer-{int(time.time())}",
        auto_offset_reset="earliest",
        state_dir=tempfile.mkdtemp(prefix="quix-peer-"),
        loglevel="WARNING",
        on_message_processed=lambda topic, partition, offset: progress(topic),
    )
    counts = {"source": 0, "facts": 0, "emitted": 0, "first": 0.0}
    sources = {tickets_topic, calls_topic}

    def progress(topic: str) -> None:
        if topic in sources:
            counts["source"] += 1
            if counts["source"] == 1:
                counts["first"] = time.perf_counter()
        else:
            counts["facts"] += 1
        if counts["source"] >= n and counts["facts"] >= counts["emitted"]:
            seconds = time.perf_counter() - counts["first"]
            print(json.dumps({"events": counts["source"], "seconds": seconds, "peak_rss_mb": peak_rss_mb()}))
            sys.stdout.flush()
            app.stop()

    def emitted(fact: dict) -> dict:
        counts["emitted"] += 1
        return fact

    for topic_name, rule in ((tickets_topic, ticket_fact), (calls_topic, call_fact)):
        topic = app.topic(
            topic_name, key_deserializer="str", value_deserializer="json", timestamp_extractor=event_time_ms
        )
        sdf = app.dataframe(topic)
        sdf = sdf.apply(rule, stateful=True).filter(lambda fact: fact is not None).apply(emitted)
        sdf = sdf.group_by(lambda fact: f"{fact['queue']}|{fact['channel']}", name=f"qc-{topic_name}")
        sdf.tumbling_window(duration_ms=60_000).reduce(reducer=add, initializer=start).final()
    app.run()


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


if __name__ == "__main__":
    main()
