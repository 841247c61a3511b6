"""Ways into Prometheus for a replay's output, side by side on the same history.

    python bench/load.py                          # two weeks of the small centre
    python bench/load.py --history events.jsonl   # your own history

The history is replayed once into two-hour OpenMetrics files (``cxpulse replay --blocks``), then
loaded three ways, each into a fresh data folder or server, timed from files to queryable:

- **promtool, a file per two-hour block** (what ``cxpulse replay --prometheus-data`` does): one
  ``promtool tsdb create-blocks-from openmetrics`` run per file, as many at once as cores;
- **promtool, a file per day**: the same samples in one file per UTC day (promtool reads a file
  once for every two-hour block it spans);
- **remote write**: every sample sent as Prometheus remote-write 1.0 requests (protobuf,
  snappy) to a Prometheus started with ``--web.enable-remote-write-receiver`` and an out-of-order
  window as long as the history, two requests in flight.

Each result is checked against the first: the same answers to a few queries at a few moments.
Needs ``prometheus`` and ``promtool`` on PATH, and the bench extra (``cramjam`` for snappy).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ENV = {**os.environ, "CXPULSE_EXPORT_WINDOWS": "[]", "CXPULSE_EXPORT_WINDOW_COUNTS": "false"}
CHECKS = ("sum(cxpulse_tickets_created_total)", 'count({__name__=~"cxpulse_.+"})',
          "sum by (queue) (rate(cxpulse_calls_offered_total[15m]))")  # fmt: skip
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def run(args: list[str], **kwargs: object) -> None:
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        sys.exit(f"{args[0]} failed:\n{done.stderr}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, work: Path, data: Path, out_of_order: str | None = None) -> None:
        self.port = free_port()
        config = work / f"prometheus-{self.port}.yml"
        doc: dict = {"global": {"scrape_interval": "1m"}}
        if out_of_order:
            doc["storage"] = {"tsdb": {"out_of_order_time_window": out_of_order}}
        config.write_text(json.dumps(doc))
        args = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=3650d",
                f"--web.listen-address=127.0.0.1:{self.port}"]  # fmt: skip
        if out_of_order:
            args.append("--web.enable-remote-write-receiver")
        self.log = open(work / f"prometheus-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        sys.exit(f"Prometheus did not start; see {self.log.name}")

    def query(self, expr: str, at: float) -> list:
        query = urllib.parse.urlencode({"query": expr, "time": at})
        url = f"http://127.0.0.1:{self.port}/api/v1/query?{query}"
        result = json.loads(urllib.request.urlopen(url, timeout=60).read())["data"]["result"]
        return sorted((sorted(r["metric"].items()), r["value"][1]) for r in result)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def answers(prometheus: Prometheus, moments: list[float]) -> list:
    return [prometheus.query(expr, at) for expr in CHECKS for at in moments]


def promtool(files: list[Path], data: Path) -> None:
    def one(path: Path) -> None:
        run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(path), str(data)])

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(one, files))


def families(path: Path) -> Iterator[tuple[str, list[str]]]:
    """``(header, sample lines)`` for each family in an OpenMetrics file."""
    header, lines = "", []
    with open(path, encoding="utf-8") as text:
        for line in text:
            if line.startswith("# HELP"):
                if header:
                    yield header, lines
                header, lines = line, []
            elif line.startswith("# TYPE"):
                header += line
            elif not line.startswith("# EOF"):
                lines.append(line)
    if header:
        yield header, lines


def by_day(files: list[Path], folder: Path) -> list[Path]:
    """The two-hour files joined into one file per UTC day, each family's lines together."""
    days: dict[int, list[Path]] = defaultdict(list)
    for path in files:
        days[int(path.stem.rsplit("-", 1)[1]) // 86400].append(path)
    folder.mkdir()
    out = []
    for day, parts in sorted(days.items()):
        joined: dict[str, list[str]] = {}
        for path in sorted(parts):
            for header, lines in families(path):
                joined.setdefault(header, []).extend(lines)
        target = folder / f"day-{day * 86400}.om"
        with open(target, "w", encoding="utf-8") as text:
            for header, lines in joined.items():
                text.write(header)
                text.writelines(lines)
            text.write("# EOF\n")
        out.append(target)
    return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _float(value: str) -> float:
    return float(value.replace("+Inf", "inf").replace("-Inf", "-inf"))


def write_requests(path: Path, per_request: int = 50_000) -> Iterator[bytes]:
    """Remote-write 1.0 ``WriteRequest`` messages (uncompressed) for every sample in one file."""
    series: dict[str, list[bytes]] = defaultdict(list)
    for _, lines in families(path):
        for line in lines:
            head, value, at = line.rsplit(" ", 2)
            # Sample: double value = 1 (fixed 64), int64 timestamp = 2 (varint), in milliseconds.
            sample = b"\x09" + struct.pack("<d", _float(value)) + b"\x10" + _varint(round(float(at) * 1000))
            series[head].append(_field(2, sample))
    batch: list[bytes] = []
    size = 0
    for head, samples in series.items():
        name, _, inner = head.partition("{")
        labels = sorted([("__name__", name), *LABEL.findall(inner)])
        encoded = b"".join(_field(1, _field(1, k.encode()) + _field(2, v.encode())) for k, v in labels)
        batch.append(_field(1, encoded + b"".join(samples)))
        size += len(samples)
        if size >= per_request:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def remote_write(files: list[Path], port: int) -> int:
    import cramjam

    def send(path: Path) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        sent = 0
        for request in write_requests(path):
            body = bytes(cramjam.snappy.compress_raw(request))
            connection.request("POST", "/api/v1/write", body, {
                "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                "X-Prometheus-Remote-Write-Version": "0.1.0"})  # fmt: skip
            reply = connection.getresponse()
            text = reply.read()
            if reply.status >= 300:
                sys.exit(f"remote write refused ({reply.status}): {text.decode()[:500]}")
            sent += 1
        connection.close()
        return sent

    with ThreadPoolExecutor(max_workers=2) as pool:
        return sum(pool.map(send, files))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--history", type=Path, help="JSON Lines history (default: simulate one)")
    parser.add_argument("--profile", default="small")
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    for tool in ("prometheus", "promtool"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH (Debian: apt install prometheus)")
    cxpulse = [sys.executable, "-m", "streams.cli"]
    work = Path(tempfile.mkdtemp(prefix="cxpulse-load-"))
    figures: dict[str, object] = {}
    try:
        history = args.history
        if history is None:
            history = work / "history.jsonl"
            print(f"simulating {args.days:g} days of the {args.profile} centre ...", flush=True)
            run([*cxpulse, "simulate", "--profile", args.profile, "--history", f"{args.days}d",
                 "--jsonl", str(history)], env=ENV)  # fmt: skip
        print("replaying into two-hour files ...", flush=True)
        blocks = work / "blocks"
        started = time.monotonic()
        run([*cxpulse, "replay", str(history), "--quiet", "--blocks", str(blocks)], env=ENV)
        files = sorted(blocks.glob("*.om"))
        figures["replay_s"] = round(time.monotonic() - started, 1)
        samples = sum(len(lines) for path in files for _, lines in families(path))
        first, last = (int(files[i].stem.rsplit("-", 1)[1]) for i in (0, -1))
        moments = [first + 3 * 3600 + i * (last - first) // 4 for i in range(4)]
        size = sum(f.stat().st_size for f in files)
        figures.update(samples=samples, files=len(files), mb=round(size / 1e6))
        print(f"{samples} samples in {len(files)} files", flush=True)

        rows, reference = [], None
        for name in ("promtool, a file per two-hour block", "promtool, a file per day", "remote write"):
            print(f"{name} ...", flush=True)
            data = work / f"data-{len(rows)}"
            if name.startswith("promtool"):
                inputs = files if "two-hour" in name else by_day(files, work / "days")
                started = time.monotonic()
                promtool(inputs, data)
                prometheus = Prometheus(work, data)
            else:
                prometheus = Prometheus(work, data, out_of_order=f"{(last - first) // 86400 + 2}d")
                started = time.monotonic()
                remote_write(files, prometheus.port)
            try:
                got = answers(prometheus, moments)
                seconds = time.monotonic() - started
            finally:
                prometheus.stop()
            reference = reference or got
            same = got == reference
            rows.append((name, seconds, same))
            figures[name] = {"seconds": round(seconds, 1), "same_answers": same}
        print(f"\n{samples:,} samples, {len(files)} two-hour files, replay {figures['replay_s']} s")
        print(f"{'way in':40} {'seconds':>8} {'samples/s':>10}  same answers")
        for name, seconds, same in rows:
            print(f"{name:40} {seconds:8.1f} {samples / seconds:10,.0f}  {'yes' if same else 'NO'}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
