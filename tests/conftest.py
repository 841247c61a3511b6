"""Shared fixtures: one real Apache Kafka for the whole session, fresh topics per test, and a
broker of its own for a test that stops and starts it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from helpers import WorkerProcess, entity_key, topic_of
from kafka_server import KafkaServer, free_port


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaServer]:
    server = KafkaServer(tmp_path_factory.mktemp("kafka")).start()
    yield server
    server.stop()


@dataclass
class Stack:
    """Names and settings of one test's private pipeline on the shared broker."""

    kafka: KafkaServer
    log_dir: Path
    partitions: int = 4
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.app_id = f"cxp-{tag}"
        self.tickets = f"tickets-{tag}"
        self.calls = f"calls-{tag}"
        self.surveys = f"surveys-{tag}"
        self.customers = f"customers-{tag}"
        self.agents = f"agents-{tag}"
        self.deadletter = f"deadletter-{tag}"
        self.topics = {
            "tickets": self.tickets,
            "calls": self.calls,
            "surveys": self.surveys,
            "customers": self.customers,
            "agents": self.agents,
        }

    def env(self, port: int) -> dict[str, str]:
        return {
            "CXPULSE_BROKER": self.kafka.url,
            "CXPULSE_APP_ID": self.app_id,
            "CXPULSE_TICKETS_TOPIC": self.tickets,
            "CXPULSE_CALLS_TOPIC": self.calls,
            "CXPULSE_SURVEYS_TOPIC": self.surveys,
            "CXPULSE_CUSTOMERS_TOPIC": self.customers,
            "CXPULSE_AGENTS_TOPIC": self.agents,
            "CXPULSE_DEADLETTER_TOPIC": self.deadletter,
            "CXPULSE_PARTITIONS": str(self.partitions),
            "CXPULSE_WEB_HOST": "127.0.0.1",
            "CXPULSE_WEB_PORT": str(port),
            "CXPULSE_SESSION_TIMEOUT": "6",
            "CXPULSE_HEARTBEAT_INTERVAL": "2",
            # Workers log warnings and errors; CXPULSE_TEST_LOG_LEVEL=info shows rebalances and recovery.
            "CXPULSE_LOG_LEVEL": os.environ.get("CXPULSE_TEST_LOG_LEVEL", "warning"),
            **self.extra_env,
        }

    def records(self, events: list[dict]) -> list[tuple[str, bytes, bytes]]:
        """Each event on its family's topic, keyed as the contract says."""
        return [(topic_of(ev, self.topics), entity_key(ev), orjson.dumps(ev)) for ev in events]

    def worker(self, name: str = "worker") -> WorkerProcess:
        proc = WorkerProcess(self.env(free_port()), self.log_dir, name).start()
        self.workers.append(proc)
        return proc


def _pipeline(kafka: KafkaServer, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(kafka, tmp_path)
    yield s
    for w in s.workers:
        w.kill()


@pytest.fixture
def stack(kafka: KafkaServer, tmp_path: Path) -> Iterator[Stack]:
    yield from _pipeline(kafka, tmp_path)


@pytest.fixture
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaServer]:
    """A broker for one test that takes it down: late in the session the shared broker holds
    every earlier test's topics, some two thousand partitions to close and load again, and a
    restart of it took longer than starting a broker afresh."""
    server = KafkaServer(tmp_path_factory.mktemp("own-kafka")).start()
    yield server
    server.stop()


@pytest.fixture
def own_stack(own_kafka: KafkaServer, tmp_path: Path) -> Iterator[Stack]:
    """A test's pipeline on :func:`own_kafka`."""
    yield from _pipeline(own_kafka, tmp_path)
