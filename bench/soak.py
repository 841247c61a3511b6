"""Soak: run realistic traffic through a worker for a while and watch memory and lag stay flat.

    python bench/soak.py --minutes 10                         # a real Apache Kafka, started here
    python bench/soak.py --minutes 10 --retention-minutes 3   # state reaches its lasting size
    python bench/soak.py --broker kafka://host:9092           # an existing broker
    python bench/soak.py --store rocksdb --retention-minutes 3  # the RocksDB store's size on disk too

Every minute it prints the events the worker has processed, the tickets, calls and customers
it has forgotten (silent longer than the retention), its resident memory (RSS), and the
consumer lag of its group (end offsets minus committed offsets, over the source topics and
cxpulse's internal topics), and with ``--store rocksdb`` the size of the store's folder on disk.
At the end it prints the growth of each and writes JSON.

A worker keeps each ticket for 35 days after its last event by default, so its memory grows
with the contacts of the last 35 days and is flat only once they are all held. A short
``--retention-minutes`` shows that lasting size within the run: memory that still grows
after the first retention period is memory the worker does not give back.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_mb(path: Path) -> float:
    """Bytes of the files under ``path`` (RocksDB's SST files, logs and manifests), in MB."""
    total = 0
    for file in path.rglob("*"):
        try:
            if file.is_file():
                total += file.stat().st_size
        except OSError:  # a file RocksDB removed while the folder was walked
            continue
    return total / 1e6


def counter_sum(port: int, name: str) -> float:
    """Sum of every series of one counter on the worker's /metrics."""
    from helpers import scrape

    return sum(value for (sample, _), value in scrape(port).items() if sample == name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="how long to run (default 10)")
    parser.add_argument("--rate", type=float, default=4.0, help="new contacts per second (default 4)")
    parser.add_argument(
        "--broker", help="existing broker URL; default: start Apache Kafka from the test jars"
    )
    parser.add_argument("--port", type=int, default=6099, help="worker /metrics port (default 6099)")
    parser.add_argument(
        "--retention-minutes",
        type=float,
        help="forget tickets, calls and customers silent this long (default: the worker's 35 days);"
        " a few minutes lets the state reach the size it would keep for good within the run",
    )
    parser.add_argument(
        "--store",
        choices=("memory", "rocksdb"),
        default="memory",
        help="the worker's table store (default memory); rocksdb also reports the store's size on disk",
    )
    parser.add_argument("--json", type=Path, default=Path("soak.json"), help="where to write the figures")
    args = parser.parse_args()

    from helpers import group_lag

    from streams.cli.simulate_command import send_traffic
    from streams.settings import Settings

    kafka = None
    if args.broker is None:
        from kafka_server import KafkaServer

        print("starting Apache Kafka ...", flush=True)
        kafka = KafkaServer().start()
        broker = kafka.url
    else:
        broker = args.broker
    app_id = f"cxpulse-soak-{int(time.time())}"
    env = {
        **os.environ,
        "CXPULSE_BROKER": broker,
        "CXPULSE_APP_ID": app_id,
        "CXPULSE_WEB_PORT": str(args.port),
        "CXPULSE_WEB_HOST": "127.0.0.1",
        "CXPULSE_LOG_LEVEL": "warning",
        "CXPULSE_CUSTOMER_BASE": "5000",
    }
    data_dir = None
    if args.store == "rocksdb":
        data_dir = Path(tempfile.mkdtemp(prefix="cxpulse-soak-store-"))
        env.update({"CXPULSE_STORE": "rocksdb://", "CXPULSE_DATA_DIR": str(data_dir)})
    if args.retention_minutes is not None:
        days = str(args.retention_minutes / 1440)
        env.update({"CXPULSE_STATE_RETENTION_DAYS": days, "CXPULSE_CALL_STATE_RETENTION_DAYS": days})
    log = tempfile.NamedTemporaryFile(prefix="cxpulse-soak-", suffix=".log", delete=False)  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=log, stderr=log
    )
    stop = threading.Event()
    sent = [0]
    settings = Settings(broker=broker)

    def simulate() -> None:
        sent[0] = send_traffic(settings, args.rate, None, 7, False, stop)

    rows = []
    bootstrap = broker.split("://", 1)[-1]
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                counter_sum(args.port, "cxpulse_events_total")
                break
            except OSError:
                if worker.poll() is not None or time.monotonic() > deadline:
                    print(f"the worker did not start; see {log.name}", file=sys.stderr)
                    return 1
                time.sleep(1)
        sim = threading.Thread(target=simulate, daemon=True)
        sim.start()
        started = time.monotonic()
        store = f" {'store MB':>9}" if data_dir else ""
        print(
            f"{'minute':>6} {'processed':>10} {'forgotten':>10} {'rss MB':>8} {'lag':>6}{store}", flush=True
        )
        minute = 0
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(max(0.0, started + (minute + 1) * 60 - time.monotonic()))
            minute += 1
            row = {
                "minute": minute,
                "processed": counter_sum(args.port, "cxpulse_events_total"),
                "forgotten": counter_sum(args.port, "cxpulse_entities_expired_total"),
                "rss_mb": round(rss_mb(worker.pid), 1),
                "lag": group_lag(bootstrap, app_id),
            }
            if data_dir:
                row["store_mb"] = round(folder_mb(data_dir), 1)
            rows.append(row)
            print(
                f"{row['minute']:>6} {row['processed']:>10.0f} {row['forgotten']:>10.0f}"
                f" {row['rss_mb']:>8.1f} {row['lag']:>6}" + (f" {row['store_mb']:>9.1f}" if data_dir else ""),
                flush=True,
            )
    finally:
        stop.set()
        worker.terminate()
        worker.wait(timeout=30)
        if kafka:
            kafka.stop()
    if rows:
        first, last = rows[0], rows[-1]
        summary = {
            "minutes": args.minutes,
            "rate": args.rate,
            "retention_minutes": args.retention_minutes,
            "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 1),
            "max_lag": max(r["lag"] for r in rows),
            "store": args.store,
            "rows": rows,
        }
        growth = f"RSS {first['rss_mb']} → {last['rss_mb']} MB"
        if data_dir:
            summary["store_growth_mb"] = round(last["store_mb"] - first["store_mb"], 1)
            summary["store_max_mb"] = max(r["store_mb"] for r in rows)
            growth += f"; store {first['store_mb']} → {last['store_mb']} MB (max {summary['store_max_mb']})"
        args.json.write_text(json.dumps(summary, indent=2))
        print(f"{growth}; lag max {summary['max_lag']}; figures in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
