"""Topic housekeeping at start-up, so a first run on an empty broker just works."""

from __future__ import annotations

import contextlib

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


def bootstrap_servers(broker: str) -> list[str]:
    """``kafka://a:9092;b:9092`` (Faust's form) → ``["a:9092", "b:9092"]``."""
    servers = []
    for part in broker.replace(",", ";").split(";"):
        part = part.strip()
        if part:
            servers.append(part.split("://", 1)[-1])
    return servers


class TopicLayoutError(RuntimeError):
    """A source topic exists with a partition count the worker's state cannot follow."""


def ensure_topics(broker: str, names: list[str], partitions: int, replication_factor: int) -> None:
    """Create missing topics; refuse to run on topics with the wrong number of partitions.

    Entity state is sharded like its source topic, so every source topic must have
    exactly ``partitions`` partitions.
    """
    # Fail within seconds, with a message that says what to check, when the broker is unreachable.
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers(broker), client_id="cxpulse-admin", bootstrap_timeout_ms=10000
    )
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [
                        NewTopic(n, num_partitions=partitions, replication_factor=replication_factor)
                        for n in missing
                    ]
                )
        present = [n for n in names if n in existing]
        if present:
            for meta in admin.describe_topics(present):
                count = len(meta["partitions"])
                if count != partitions:
                    raise TopicLayoutError(
                        f"topic {meta['topic']!r} has {count} partitions, CXPULSE_PARTITIONS={partitions}; "
                        f"set CXPULSE_PARTITIONS={count} (and use a new CXPULSE_APP_ID) or recreate the topic"
                    )
    finally:
        admin.close()
