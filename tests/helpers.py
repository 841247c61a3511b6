"""Test helpers: building events, producing them, running worker processes, reading /metrics."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
_ids = itertools.count(1)

Sample = tuple[str, frozenset[tuple[str, str]]]


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def event(
    type_: str, entity: str, at: float, queue: str = "billing", channel: str = "email", **extra: Any
) -> dict:
    """A valid event of ``type_`` for ticket/call ``entity`` at epoch seconds ``at``."""
    field = "ticket_id" if type_.startswith("ticket.") else "call_id"
    return {
        "event_id": f"e{next(_ids)}",
        "type": type_,
        field: entity,
        "occurred_at": rfc3339(at),
        "queue": queue,
        "channel": channel,
        **extra,
    }


def survey(
    kind: str, score: float, at: float = 1e9, queue: str = "billing", channel: str = "email", **subject
) -> dict:
    """A survey answer about ``ticket_id=...`` or ``call_id=...``."""
    return {
        "event_id": f"e{next(_ids)}",
        "type": "survey.submitted",
        "survey": kind,
        "score": score,
        "occurred_at": rfc3339(at),
        "queue": queue,
        "channel": channel,
        **subject,
    }


def customer(type_: str, customer_id: str, at: float) -> dict:
    return {
        "event_id": f"e{next(_ids)}",
        "type": type_,
        "customer_id": customer_id,
        "occurred_at": rfc3339(at),
    }


def agent(state: str, agent_id: str, at: float, queues: Iterable[str] = ("billing",), **extra: Any) -> dict:
    """An agent's change to ``state`` at epoch seconds ``at``, serving ``queues``."""
    return {
        "event_id": f"e{next(_ids)}",
        "type": "agent.state_changed",
        "agent_id": agent_id,
        "state": state,
        "queues": list(queues),
        "occurred_at": rfc3339(at),
        **extra,
    }


def missed(agent_id: str, at: float, queue: str = "billing", **extra: Any) -> dict:
    """An offer of a contact in ``queue`` that rang ``agent_id`` at epoch seconds ``at``, not taken."""
    return {
        "event_id": f"e{next(_ids)}",
        "type": "agent.offer_missed",
        "agent_id": agent_id,
        "queue": queue,
        "occurred_at": rfc3339(at),
        **extra,
    }


def entity_key(ev: dict) -> bytes:
    """The Kafka key the contract asks for: the ticket, call, customer or agent id."""
    if ev["type"].startswith("agent."):
        return ev["agent_id"].encode()
    return (ev.get("ticket_id") or ev.get("call_id") or ev["customer_id"]).encode()


def topic_of(ev: dict, topics: dict[str, str]) -> str:
    family = {
        "ticket": "tickets",
        "call": "calls",
        "survey": "surveys",
        "customer": "customers",
        "agent": "agents",
    }
    return topics[family[ev["type"].split(".")[0]]]


def produce(bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes | None]]) -> int:
    """Send ``(topic, key, value)`` records in order and wait until the broker has them all."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    n = 0
    for topic, key, value in records:
        producer.send(topic, key=key, value=value)
        n += 1
    producer.flush()
    producer.close()
    return n


def as_records(topic: str, events: Iterable[dict]) -> list[tuple[str, bytes, bytes]]:
    return [(topic, entity_key(ev), orjson.dumps(ev)) for ev in events]


def group_lag(bootstrap: str, group: str, topics: Iterable[str] | None = None) -> int:
    """Records of ``topics`` (default: all the group consumes) not yet committed by ``group``."""
    from kafka import KafkaAdminClient, KafkaConsumer

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        committed = admin.list_group_offsets(group)[group]
        if topics is not None:
            wanted = set(topics)
            committed = {tp: meta for tp, meta in committed.items() if tp.topic in wanted}
        ends = consumer.end_offsets(list(committed))
        return sum(max(0, ends[tp] - meta.offset) for tp, meta in committed.items() if meta.offset >= 0)
    finally:
        consumer.close()
        admin.close()


def scrape(port: int) -> dict[Sample, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def http_get(url: str, context: Any = None, authorization: str | None = None) -> tuple[int, str]:
    """Status and body of a GET, error statuses included."""
    request = urllib.request.Request(url, headers={"Authorization": authorization} if authorization else {})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def environment_without_settings() -> dict[str, str]:
    """This process's environment minus every CXPULSE_* variable, for commands given their own."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CXPULSE_")}


def pick(samples: dict[Sample, float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: dict[Sample, float], name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value; fail with its last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as exc:  # server not up yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


class WorkerProcess:
    """One ``cxpulse worker`` (or other serving command) process with its own environment and log file."""

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        name: str = "worker",
        command: tuple[str, ...] = ("worker",),
        port_variable: str = "CXPULSE_WEB_PORT",
    ) -> None:
        self.env = {**os.environ, **env}
        self.port = int(env[port_variable])
        self.command = command
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *self.command],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def metrics(self) -> dict[Sample, float]:
        return scrape(self.port)

    def agents(self) -> dict:
        """What /agents answers: the time it was taken and the agents of this worker's partitions."""
        status, body = http_get(f"http://127.0.0.1:{self.port}/agents")
        assert status == 200, body
        return orjson.loads(body)

    def assigned(self) -> float:
        return pick(self.metrics(), "cxpulse_worker_assigned_partitions") or 0

    def readiness(self) -> str:
        """What /ready answers: the status and the reason."""
        status, body = http_get(f"http://127.0.0.1:{self.port}/ready")
        return f"{status} {body.strip()}"

    def wait_assigned(self, partitions: int, timeout: float = 90) -> None:
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"worker exited; log:\n{self.log_tail()}")
            return self.assigned() == partitions

        wait_for(ready, timeout, what=f"worker on :{self.port} to own {partitions} partitions")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Send ``sig`` and wait. A process that outlives a stop signal by ``timeout`` is killed
        and the test fails: an operator's SIGTERM must end every cxpulse command."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                if sig != signal.SIGKILL:
                    raise AssertionError(
                        f"cxpulse {' '.join(self.command)} still running {timeout:.0f} s after "
                        f"signal {sig}:\n{self.log_tail()}"
                    ) from None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
