"""The broker a benchmark runs on: one given by address, or Apache Kafka started for the run."""

from __future__ import annotations

import sys
from typing import Any


def start_broker(address: str | None) -> tuple[str, Any]:
    """``(host:port, server)``: the server is None for a given broker, else stop it when done."""
    if address:
        return address, None
    from kafka_server import KafkaServer  # tests/ is on the path of every benchmark

    print("starting Apache Kafka ...", file=sys.stderr, flush=True)
    kafka = KafkaServer().start()
    return kafka.bootstrap, kafka
