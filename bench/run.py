"""cxpulse side by side with the Python limit, Faust's floor and a Quix Streams peer, on one broker.

    python bench/run.py                      # 1 M events, Apache Kafka started here
    python bench/run.py --events 200000      # a quicker run
    python bench/run.py --broker 127.0.0.1:9092

One run produces N events of the simulator's realistic mix (tickets, calls, surveys,
customers; 4 partitions each) once, then measures on that same data, each in its own process:

  (a) bare     an aiokafka consumer decoding every event: the Python limit
  (b) noop     a Faust agent per topic that only decodes: Faust's floor
  (c) live     the cxpulse worker computing every KPI, until all of them show in /metrics
  (d) replay   cxpulse replay over the topics (every KPI, OpenMetrics written every minute)
  (e) quix     the peer: three core KPIs with Quix Streams (bench/peers/quix_kpis.py)

then the end-to-end latency of a live worker (event produced → counted in /metrics) under a
steady load at several rates, and the memory of a worker holding many open tickets. It prints a
table, the ratios c/b, d/e and d/a, and writes everything as JSON under stable keys:
``ratios.c_over_b``, ``ratios.d_over_e``, ``live_rate_flatness`` (the live rate over all N events ÷
its rate over the first 200 k of the same traffic, in a second run), ``latency.<rate>.p99_s``,
``open_tickets.<store>.<n>.rss_mb``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from broker import start_broker  # noqa: E402 - bench/ is the script's own folder

STAGES = ROOT / "bench" / "stages.py"
QUIX = ROOT / "bench" / "peers" / "quix_kpis.py"
FAMILIES = ("tickets", "calls", "surveys", "customers", "agents")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def access(bootstrap: str) -> Any:
    """The broker, reached with this environment's CXPULSE_KAFKA_* security settings."""
    from streams.settings import Settings

    return Settings(broker=f"kafka://{bootstrap}").kafka()


def topics_for(tag: str) -> dict[str, str]:
    return {family: f"{family}-{tag}" for family in FAMILIES}


def produce(bootstrap: str, topics: dict[str, str], n: int) -> dict[str, int]:
    """N events of the simulator's mix, stamped over the last hours so none is too old or ahead."""
    import orjson
    from confluent_kafka import Producer

    from streams.simulator.traffic import Traffic

    rate = 5.0  # contacts per second of event time; about 4.5 events each
    start = time.time() - n / (4.5 * rate) - 3600
    producer = Producer({**access(bootstrap).librdkafka(), "linger.ms": 50, "batch.size": 1_000_000})
    counts = dict.fromkeys(FAMILIES, 0)
    started = time.monotonic()
    for i, (family, key, event) in enumerate(Traffic(start=start, rate=rate, seed=42).take(n)):
        while True:
            try:
                producer.produce(topics[family], orjson.dumps(event), key.encode())
                break
            except BufferError:
                producer.poll(0.05)
        counts[family] += 1
        if i % 100_000 == 0 and i:
            producer.poll(0)
            say(f"  produced {i:,} events ({i / (time.monotonic() - started):,.0f}/s)")
    producer.flush()
    return counts


def stage(args: list[str], env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Run one measuring process; its last stdout line is its JSON result."""
    proc = subprocess.run(
        [sys.executable, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1])
    per_second = result["events"] / result["seconds"]
    say(f"  {result['events']:,} events in {result['seconds']:.1f} s: {per_second:,.0f}/s")
    return result


def scrape(port: int) -> dict[str, float]:
    """Sums over all labels, per sample name (KPI counters and the worker's own)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            name = series.split("{", 1)[0]
            sums[name] = sums.get(name, 0.0) + float(value)
    return sums


def proc_rss(pid: int, field: str = "VmHWM:") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


class Worker:
    """A ``cxpulse worker`` process on its own topics and port."""

    def __init__(self, broker: str, topics: dict[str, str], port: int, app_id: str) -> None:
        env = {
            **os.environ,
            "CXPULSE_BROKER": f"kafka://{broker}",
            "CXPULSE_APP_ID": app_id,
            "CXPULSE_WEB_PORT": str(port),
            "CXPULSE_WEB_HOST": "127.0.0.1",
            "CXPULSE_LOG_LEVEL": "warning",
            **{f"CXPULSE_{family.upper()}_TOPIC": name for family, name in topics.items()},
        }
        self.port = port
        self.log = tempfile.NamedTemporaryFile(prefix="cxpulse-bench-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=env,
            stdout=self.log,
            stderr=self.log,
            cwd=ROOT,
        )

    def metrics(self) -> dict[str, float] | None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the worker exited; see {self.log.name}")
        try:
            return scrape(self.port)
        except OSError:
            return None

    def wait_ready(self, partitions: int = 4, timeout: float = 120) -> None:
        """Until the worker has its partitions and ``/ready`` says so (tables rebuilt, broker up).

        Traffic sent before that waits for the tables' recovery: a start-up cost, not the
        steady-state latency the latency stage measures.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.metrics()
            if m and m.get("cxpulse_worker_assigned_partitions") == partitions and self.ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"the worker was not assigned its partitions; see {self.log.name}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=30) as page:
                return page.status == 200
        except OSError:  # urllib's HTTPError (503: not ready) is one
            return False

    def stop(self) -> float:
        """Stop it; returns its peak RSS in MB."""
        peak = proc_rss(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return peak


def live_throughput(
    broker: str, topics: dict[str, str], n: int, expected: dict[str, float]
) -> dict[str, Any]:
    """The worker started on a full topic: seconds from its first event to every KPI total right."""
    from kafka_server import free_port

    worker = Worker(broker, topics, free_port(), f"bench-live-{int(time.time())}")
    first = None
    done = None
    progress: list[tuple[float, float]] = []  # (seconds since the first event, events consumed)
    try:
        deadline = time.monotonic() + 7200
        while time.monotonic() < deadline:
            m = worker.metrics()
            now = time.perf_counter()
            if m:
                if first is None and m.get("cxpulse_events_total", 0) > 0:
                    first = now
                if first is not None and all(m.get(k) == v for k, v in expected.items()):
                    done = now
                    break
                if first is not None and now > first:
                    seen = m.get("cxpulse_events_total", 0)
                    progress.append((now - first, seen))
                    say(f"  live: {seen:,.0f} of {n:,} events consumed, {seen / (now - first):,.0f}/s")
            time.sleep(0.2 if first is None else 5)
    finally:
        peak = worker.stop()
    if first is None or done is None:
        raise RuntimeError(f"the live worker did not finish; see {worker.log.name}")
    return {"events": n, "seconds": done - first, "peak_rss_mb": peak, "progress": progress}


def live_latency(broker: str, topics: dict[str, str], rate: float, seconds: float) -> dict[str, Any]:
    """Produce at a steady rate into a running worker; time each ticket.created until counted."""
    import orjson
    from kafka import KafkaProducer
    from kafka_server import free_port

    from streams.simulator.traffic import Traffic

    worker = Worker(broker, topics, free_port(), f"bench-latency-{int(time.time())}")
    worker.wait_ready()
    producer = KafkaProducer(**access(broker).kafka_python(), linger_ms=5, acks=1)
    sent_at: list[float] = []  # produce time of each ticket.created, in order
    stop = threading.Event()
    counted: list[tuple[float, float]] = []  # (time, tickets_created_total)

    def poll() -> None:
        while not stop.is_set():
            m = worker.metrics()
            if m is not None:
                counted.append((time.time(), m.get("cxpulse_tickets_created_total", 0.0)))
            time.sleep(0.5)  # a scrape costs the worker a few ms of its event loop: not too often

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    # The simulator's mix, sent at an even pace: event i leaves at began + i / rate. Its event
    # times stay within a minute or so of the wall clock (the simulator's own rate swings).
    # The events are made before the clock starts: the simulator takes a second or two to
    # yield its first, and sending those seconds' events at once would be a burst, not steady.
    events = list(Traffic(start=time.time(), rate=rate / 5.2, seed=9).take(int(rate * seconds)))
    began = time.time()
    produced = 0
    for family, key, event in events:
        pause = began + produced / rate - time.time()
        if pause > 0:
            time.sleep(pause)
        producer.send(topics[family], key=key.encode(), value=orjson.dumps(event))
        produced += 1
        if event["type"] == "ticket.created":
            sent_at.append(time.time())
    producer.flush()
    elapsed = time.time() - began
    deadline = time.time() + 120
    while (not counted or counted[-1][1] < len(sent_at)) and time.time() < deadline:
        time.sleep(0.5)
    stop.set()
    poller.join()
    peak = worker.stop()
    latencies = []
    by_10s: dict[int, list[float]] = {}  # the same latencies per 10 s of sending: a start-up or a stall shows
    j = 0
    for i, t in enumerate(sent_at):
        while j < len(counted) and counted[j][1] < i + 1:
            j += 1
        if j == len(counted):
            break
        latency = max(0.0, counted[j][0] - t)
        latencies.append(latency)
        by_10s.setdefault(int((t - began) // 10) * 10, []).append(latency)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 100 else [float("nan")] * 99
    return {
        "rate": produced / elapsed,
        "measured": len(latencies),
        "created": len(sent_at),
        "p50_s": round(q[49], 3),
        "p99_s": round(q[98], 3),
        "max_s": round(latencies[-1], 3) if latencies else None,
        "peak_rss_mb": peak,
        "max_s_by_10s": {f"{start}s": round(max(values), 3) for start, values in sorted(by_10s.items())},
    }


def open_tickets(broker: str, sizes: list[int], store: str) -> list[dict[str, Any]]:
    """A worker holding more and more open tickets: its memory, and the store's size on disk."""
    import orjson
    from confluent_kafka import Producer
    from kafka_server import free_port

    from streams.cluster.topics import TopicSpec, ensure_topics
    from streams.simulator.traffic import QUEUES, TICKET_CHANNELS

    tag = f"open{int(time.time())}{store.split(':')[0]}"
    topics = topics_for(tag)
    ensure_topics(access(broker), [TopicSpec(t, 4, 1) for t in topics.values()])
    data_dir = tempfile.mkdtemp(prefix="cxpulse-bench-store-")
    os.environ["CXPULSE_STORE"], os.environ["CXPULSE_DATA_DIR"] = store, data_dir
    try:
        worker = Worker(broker, topics, free_port(), f"bench-{tag}")
    finally:
        del os.environ["CXPULSE_STORE"], os.environ["CXPULSE_DATA_DIR"]
    producer = Producer({**access(broker).librdkafka(), "linger.ms": 50})
    rows, made = [], 0
    try:
        worker.wait_ready()
        for size in sizes:
            began = time.perf_counter()
            now = time.time()
            while made < size:
                ticket = f"OPEN-{made}"
                event = {
                    "event_id": f"open-{made}", "type": "ticket.created", "ticket_id": ticket,
                    "occurred_at": datetime.fromtimestamp(now, UTC).isoformat(),
                    "queue": QUEUES[made % len(QUEUES)], "channel": TICKET_CHANNELS[made % 4],
                    "customer_id": f"cust-{made}",
                }  # fmt: skip
                while True:
                    try:
                        producer.produce(topics["tickets"], orjson.dumps(event), ticket.encode())
                        break
                    except BufferError:
                        producer.poll(0.05)
                made += 1
            producer.flush()
            while True:
                m = worker.metrics() or {}
                if m.get("cxpulse_tickets_open") == size:
                    break
                time.sleep(2)
            seconds = time.perf_counter() - began
            time.sleep(3)
            disk = sum(f.stat().st_size for f in Path(data_dir).rglob("*") if f.is_file()) / 2**20
            row = {
                "store": store, "open_tickets": size, "seconds": round(seconds, 1),
                "rss_mb": proc_rss(worker.proc.pid, "VmRSS:"), "peak_rss_mb": proc_rss(worker.proc.pid),
                "store_on_disk_mb": round(disk, 1),
            }  # fmt: skip
            say(f"  {store} {size:,} open tickets: RSS {row['rss_mb']} MB, disk {row['store_on_disk_mb']} MB")
            rows.append(row)
    finally:
        worker.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--events", type=int, default=1_000_000, help="events to produce (default 1,000,000)")
    parser.add_argument(
        "--broker", help="bootstrap host:port of an existing broker (default: start Kafka here)"
    )
    parser.add_argument(
        "--latency-rates", default="200,500,1000,2000", help="events/s of the latency runs (comma-separated)"
    )
    parser.add_argument("--latency-seconds", type=float, default=60, help="length of each latency run")
    parser.add_argument(
        "--skip", default="", help="comma-separated stages to leave out: noop,live,quix,latency,flatness"
    )
    parser.add_argument(
        "--open-tickets",
        default="100000,300000,1000000",
        help="open-ticket counts to measure a worker's memory at (comma-separated; empty to skip)",
    )
    parser.add_argument(
        "--stores", default="memory://,rocksdb://", help="table stores for the open-ticket runs"
    )
    parser.add_argument(
        "--flatness-events",
        type=int,
        default=200_000,
        help="also run the live worker on this many events of the same traffic (at most a fifth of "
        "--events): live_rate_flatness is the full run's rate ÷ this one's",
    )
    parser.add_argument(
        "--json", type=Path, default=Path("bench-results.json"), help="where to write figures"
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    rates = [f"{float(r):.0f}" for r in args.latency_rates.split(",") if r]
    repeated = sorted({r for r in rates if rates.count(r) > 1})
    if repeated:
        parser.error(f"--latency-rates lists {', '.join(repeated)} more than once: each rate is measured "
                     "once, on topics of its own, and reported under its value")  # fmt: skip

    broker, kafka = start_broker(args.broker)
    results: dict[str, Any] = {"events": args.events, "cpus": os.cpu_count()}
    try:
        from streams.cluster.topics import TopicSpec, ensure_topics

        tag = f"bench{int(time.time())}"
        topics = topics_for(tag)
        ensure_topics(access(broker), [TopicSpec(t, 4, 1) for t in topics.values()])
        say(f"producing {args.events:,} events ...")
        counts = produce(broker, topics, args.events)
        results["mix"] = counts
        n = sum(counts.values())
        topic_args = list(topics.values())
        env = {f"CXPULSE_{f.upper()}_TOPIC": t for f, t in topics.items()}

        if "bare" not in skip:
            say("(a) bare aiokafka consumer ...")
            results["bare"] = stage([str(STAGES), "bare", broker, str(n), *topic_args])
        expected: dict[str, float] = {}
        if "replay" not in skip:
            say("(d) cxpulse replay ...")
            with tempfile.TemporaryDirectory() as tmp:
                results["replay"] = stage([str(STAGES), "replay", broker, f"{tmp}/replay.om"], env)
            expected = {
                k: v
                for k, v in results["replay"].pop("totals").items()
                if k.startswith(("cxpulse_tickets_created", "cxpulse_calls_offered", "cxpulse_nps_responses",
                                 "cxpulse_customers_joined", "cxpulse_contacts", "cxpulse_tickets_resolved"))
            }  # fmt: skip
        if "quix" not in skip:
            say("(e) Quix Streams peer ...")
            n_src = counts["tickets"] + counts["calls"]
            results["quix"] = stage([str(QUIX), broker, topics["tickets"], topics["calls"], str(n_src)])
        if "noop" not in skip:
            say("(b) no-op Faust agent ...")
            results["noop"] = stage([str(STAGES), "faust-noop", broker, str(n), *topic_args])
        if "live" not in skip and expected:
            say("(c) cxpulse live worker ...")
            results["live"] = live_throughput(broker, topics, n, expected)
        small = min(args.flatness_events, args.events // 5)
        if "live" in results and small and "flatness" not in skip:
            # The same traffic, cut at ``small`` events: how much faster a worker is with less
            # state. Within one run the rate is no measure of this: the worker reads its source
            # topics ahead of its own fact topic, so early progress defers aggregation work.
            say(f"(c') cxpulse live worker on the first {small:,} events of the same traffic ...")
            small_topics = topics_for(tag + "small")
            ensure_topics(access(broker), [TopicSpec(t, 4, 1) for t in small_topics.values()])
            small_counts = produce(broker, small_topics, small)
            with tempfile.TemporaryDirectory() as tmp:
                small_env = {f"CXPULSE_{f.upper()}_TOPIC": t for f, t in small_topics.items()}
                replayed = stage([str(STAGES), "replay", broker, f"{tmp}/replay.om"], small_env)
            expected_small = {k: v for k, v in replayed["totals"].items() if k in expected}
            results["live_small"] = live_throughput(
                broker, small_topics, sum(small_counts.values()), expected_small
            )
            results["live_rate_flatness"] = round(rate(results["live"]) / rate(results["live_small"]), 3)
        if "latency" not in skip:
            results["latency"] = {}
            for latency_rate in (float(r) for r in args.latency_rates.split(",") if r):
                say(f"latency at {latency_rate:,.0f} events/s for {args.latency_seconds:.0f} s ...")
                lat_topics = topics_for(f"{tag}lat{latency_rate:.0f}")
                ensure_topics(access(broker), [TopicSpec(t, 4, 1) for t in lat_topics.values()])
                results["latency"][f"{latency_rate:.0f}"] = live_latency(
                    broker, lat_topics, latency_rate, args.latency_seconds
                )
        sizes = [int(x) for x in args.open_tickets.split(",") if x]
        if sizes:
            results["open_tickets"] = {}
            for store in args.stores.split(","):
                say(f"open tickets held by a worker with the {store} store ...")
                rows = open_tickets(broker, sizes, store)
                results["open_tickets"][store.split(":")[0]] = {str(r["open_tickets"]): r for r in rows}
    finally:
        if kafka:
            kafka.stop()
    print_table(results)
    args.json.write_text(json.dumps(results, indent=2))
    say(f"figures in {args.json}")
    return 0


def rate(result: dict[str, Any] | None) -> float | None:
    if not result or not result.get("seconds"):
        return None
    return result["events"] / result["seconds"]


def print_table(results: dict[str, Any]) -> None:
    rows = [
        ("a", "bare aiokafka consumer, decode only", "bare"),
        ("b", "Faust agent, decode only", "noop"),
        ("c", "cxpulse live worker, every KPI", "live"),
        ("d", "cxpulse replay, every KPI", "replay"),
        ("e", "Quix Streams peer, 3 KPIs (tickets+calls)", "quix"),
    ]
    print(f"\n{results['events']:,} events, {results['cpus']} CPUs\n")
    print(f"{'':2} {'stage':44} {'events/s':>10} {'seconds':>8} {'peak RSS MB':>12}")
    for letter, title, key in rows:
        r = results.get(key)
        if r:
            print(f"{letter:2} {title:44} {rate(r):>10,.0f} {r['seconds']:>8.1f} {r['peak_rss_mb']:>12.1f}")
    ratios = {}
    for name, top, bottom in (("c_over_b", "live", "noop"), ("d_over_e", "replay", "quix"),
                              ("d_over_a", "replay", "bare")):  # fmt: skip
        a, b = rate(results.get(top)), rate(results.get(bottom))
        if a and b:
            ratios[name] = round(a / b, 3)
    results["ratios"] = ratios
    print("\nratios: " + ", ".join(f"{k.replace('_over_', '/')} = {v:.2f}" for k, v in ratios.items()))
    if results.get("live_rate_flatness"):
        small = results["live_small"]
        print(f"live rate flatness: {results['live_rate_flatness']:.2f} ({rate(results['live']):,.0f}/s over "
              f"{results['events']:,} events ÷ {rate(small):,.0f}/s over {small['events']:,})")  # fmt: skip
    opened = results.get("open_tickets")
    if opened:
        print(f"\n{'store':12} {'open tickets':>12} {'RSS MB':>8} {'peak RSS MB':>12} {'on disk MB':>11}")
        for r in (r for rows in opened.values() for r in rows.values()):
            print(f"{r['store']:12} {r['open_tickets']:>12,} {r['rss_mb']:>8.1f} {r['peak_rss_mb']:>12.1f} "
                  f"{r['store_on_disk_mb']:>11.1f}")  # fmt: skip
    for lat in (results.get("latency") or {}).values():
        print(
            f"latency at {lat['rate']:,.0f} events/s: p50 {lat['p50_s']:.3f} s, p99 {lat['p99_s']:.3f} s, "
            f"max {lat['max_s']} s ({lat['measured']} tickets), peak RSS {lat['peak_rss_mb']} MB"
        )
        spans = "  ".join(f"{start} {worst:.2f}" for start, worst in lat["max_s_by_10s"].items())
        print(f"  max per 10 s of sending: {spans}")


if __name__ == "__main__":
    sys.exit(main())
