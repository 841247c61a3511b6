"""The ingest gateway on one core: requests/s, events/s and p99 latency, next to a bare producer.

    python bench/ingest.py                       # Apache Kafka started here, 20 s per stage
    python bench/ingest.py --seconds 60 --concurrency 32

Stages, each on the same broker, topics and events (the simulator's mix):

  (a) producer   an aiokafka producer with the gateway's settings (acks=all, idempotent),
                 validating and sending every event: what Kafka takes from one process
  (b) webhooks   Zendesk ticket events and TaskRouter callbacks, one event per request (signed
                 payloads as the platforms send them), --concurrency requests in flight
  (c) batches    NDJSON contract events, --batch per request, to /v1/events

The gateway runs pinned to one core (taskset) with the client on the other. Prints a table and
writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from broker import start_broker  # noqa: E402 - bench/ is the script's own folder

TOKEN = "bench-token-0123456789"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def traffic(n: int) -> list[tuple[str, dict[str, Any]]]:
    from streams.simulator.traffic import Traffic

    out = []
    now = time.time()
    for family, _, event in Traffic(start=now - 3600, rate=n / 3000, seed=5).until(now):
        out.append((family, event))
        if len(out) == n:
            break
    return out


async def bare_producer(broker: str, topics: dict[str, str], events: list) -> dict[str, float]:
    import orjson
    from aiokafka import AIOKafkaProducer

    from streams.ingest.contract_batch import address_one
    from streams.settings import Settings

    access = Settings(broker=f"kafka://{broker}").kafka()
    producer = AIOKafkaProducer(**access.aiokafka(), acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    limits = Settings().limits()
    started = time.perf_counter()
    try:
        futures = []  # no round trip per batch: everything in flight, acknowledged at the end
        for _, event in events:
            addressed = address_one(orjson.loads(orjson.dumps(event)), limits, None)
            futures.append(await producer.send(topics[addressed.family], addressed.value, addressed.key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    seconds = time.perf_counter() - started
    return {"events_per_s": len(events) / seconds, "seconds": seconds}


async def load(port: int, requests: list[tuple[str, bytes, dict[str, str], int]], concurrency: int) -> dict:
    """Send every request with ``concurrency`` in flight; requests/s, events/s, latency quantiles."""
    import aiohttp

    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while not queue.empty():
            path, body, headers, _ = queue.get_nowait()
            t0 = time.perf_counter()
            async with session.post(f"http://127.0.0.1:{port}{path}", data=body, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    failures += 1
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    latencies.sort()
    events = sum(r[3] for r in requests)
    return {
        "requests_per_s": len(requests) / seconds,
        "events_per_s": events / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "failures": failures,
        "seconds": seconds,
    }


def webhook_requests(port: int, events: list) -> list[tuple[str, bytes, dict[str, str], int]]:
    from streams.simulator.vendor_traffic import as_twilio, as_zendesk

    auth = {"Authorization": f"Bearer {TOKEN}"}
    out = []
    for family, event in events:
        if family == "tickets":
            body = json.dumps(as_zendesk(event)).encode()
            out.append(("/v1/webhooks/zendesk", body, {**auth, "Content-Type": "application/json"}, 1))
        elif family == "calls":
            body = urllib.parse.urlencode(as_twilio(event)).encode()
            form = {**auth, "Content-Type": "application/x-www-form-urlencoded"}
            out.append(("/v1/webhooks/twilio-taskrouter", body, form, 1))
    return out


def batch_requests(events: list, batch: int) -> list[tuple[str, bytes, dict[str, str], int]]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    out = []
    for i in range(0, len(events), batch):
        chunk = events[i : i + batch]
        body = b"".join(json.dumps(e).encode() + b"\n" for _, e in chunk)
        out.append(("/v1/events", body, headers, len(chunk)))
    return out


def start_gateway(broker: str, topics: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    from kafka_server import free_port

    port = free_port()
    env = {
        **os.environ,
        "CXPULSE_BROKER": f"kafka://{broker}",
        "CXPULSE_INGEST_PORT": str(port),
        "CXPULSE_INGEST_HOST": "127.0.0.1",
        "CXPULSE_INGEST_TOKENS": json.dumps({"bench": TOKEN}),
        "CXPULSE_ZENDESK_ESCALATION_TAGS": '["escalated"]',
        **{f"CXPULSE_{family.upper()}_TOPIC": topic for family, topic in topics.items()},
    }
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    command = [*pin, sys.executable, "-m", "streams.cli", "ingest", "--loglevel", "warning"]
    proc = subprocess.Popen(command, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                if response.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"the gateway did not become ready; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--events", type=int, default=20_000, help="events per stage (default 20,000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--batch", type=int, default=100, help="events per /v1/events request (default 100)")
    parser.add_argument(
        "--broker", help="bootstrap host:port of an existing broker (default: start Kafka here)"
    )
    parser.add_argument("--json", type=Path, default=Path("bench-ingest.json"), help="where to write figures")
    args = parser.parse_args()

    from streams.cluster.topics import TopicSpec, ensure_topics
    from streams.settings import Settings

    broker, kafka = start_broker(args.broker)
    results: dict[str, Any] = {"events": args.events, "cpus": os.cpu_count(), "concurrency": args.concurrency}
    gateway = None
    try:
        tag = f"ingest{int(time.time())}"
        topics = {f: f"{f}-{tag}" for f in ("tickets", "calls", "surveys", "customers", "agents")}
        access = Settings(broker=f"kafka://{broker}").kafka()
        ensure_topics(access, [TopicSpec(t, 4, 1) for t in topics.values()])
        events = traffic(args.events)
        say(f"(a) bare producer, {len(events):,} events ...")
        results["producer"] = asyncio.run(bare_producer(broker, topics, events))
        gateway, port = start_gateway(broker, topics, Path(f"ingest-{tag}.log"))
        webhooks = webhook_requests(port, events)
        say(f"(b) webhooks, {len(webhooks):,} requests ...")
        results["webhooks"] = asyncio.run(load(port, webhooks, args.concurrency))
        batches = batch_requests(events, args.batch)
        say(f"(c) NDJSON batches of {args.batch}, {len(batches):,} requests ...")
        results["batches"] = asyncio.run(load(port, batches, args.concurrency))
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(10)
        if kafka is not None:
            kafka.stop()
    p, w, b = results["producer"], results["webhooks"], results["batches"]
    print(f"\n{args.events:,} events, gateway on one core, {args.concurrency} requests in flight\n")
    print(f"   {'stage':<42}{'requests/s':>11}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'failed':>7}")
    print(f"a  {'bare producer (acks=all, idempotent)':<42}{'':>11}{p['events_per_s']:>10,.0f}")
    for label, r in (
        ("b  webhooks, one event per request", w),
        (f"c  /v1/events, {args.batch} per request", b),
    ):
        print(f"{label:<45}{r['requests_per_s']:>11,.0f}{r['events_per_s']:>10,.0f}{r['p50_ms']:>8.1f}"
              f"{r['p99_ms']:>8.1f}{r['failures']:>7}")  # fmt: skip
    print(f"\nbatches ÷ bare producer (events/s): {b['events_per_s'] / p['events_per_s']:.2f}")
    args.json.write_text(json.dumps(results, indent=2))
    print(f"figures in {args.json}")
    return 0 if w["failures"] == 0 and b["failures"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
