"""Every topic a worker uses exists, and the brokers say so, before the worker joins its group.

A consumer group's leader assigns only the partitions its metadata knows. A topic created a
moment before the join (Faust creates its internal topics just before it subscribes) can be
missing from a broker's metadata for a while, longest on a busy machine; the assignment then
leaves that topic out, and nothing asks again until the next metadata refresh, minutes later.
So the worker creates every topic itself first and waits until the metadata lists each one
with a leader for every partition.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from metrics.documents import JsonObject
from streams.cluster.access import KafkaAccess, bootstrap_servers

__all__ = ["TopicLayoutError", "TopicSpec", "bootstrap_servers", "ensure_topics"]

log = logging.getLogger("cxpulse.topics")


class TopicLayoutError(RuntimeError):
    """A topic exists with a partition count the worker's state cannot follow."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic as cxpulse needs it: its name, partitions, replication and configuration."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def ensure_topics(access: KafkaAccess, specs: list[TopicSpec], timeout: float = 60.0) -> list[str]:
    """Create the missing topics, wait until the metadata shows them all; returns those created.

    Entity state is sharded like its source topic, so a topic that exists with another number
    of partitions stops the worker with what to change.
    """
    # Fail within seconds, with a message that says what to check, when the broker is unreachable.
    admin = KafkaAdminClient(**access.kafka_python(), client_id="cxpulse-admin", bootstrap_timeout_ms=10000)
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            # Another worker of the group may create them at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [
                        NewTopic(
                            s.name,
                            num_partitions=s.partitions,
                            replication_factor=s.replication_factor,
                            topic_configs=s.config,
                        )
                        for s in missing
                    ]
                )
            log.info("created topics %s", ", ".join(s.name for s in missing))
        _wait_visible(admin, {s.name: s.partitions for s in specs}, timeout)
        return [s.name for s in missing]
    finally:
        admin.close()


def _wait_visible(admin: Any, wanted: dict[str, int], timeout: float) -> None:
    """Poll the metadata until every topic has its partitions, each with a leader."""
    deadline = time.monotonic() + timeout
    while True:
        wrong, problems = _layout_problems(admin.describe_topics(list(wanted)), wanted)
        if wrong:
            raise TopicLayoutError("; ".join(wrong))
        if not problems:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"topics not ready after {timeout:.0f} s: {'; '.join(problems)}; check the brokers' health "
                "and that CXPULSE_REPLICATION_FACTOR is not above the number of brokers"
            )
        time.sleep(0.2)


def _layout_problems(described: list[JsonObject], wanted: dict[str, int]) -> tuple[list[str], list[str]]:
    """Topics laid out wrongly, and topics not ready yet, of ``wanted`` (name -> partitions)."""
    # kafka-python 3 names the fields as Kafka's protocol does; 2.x used "topic" and "leader".
    seen = {d.get("name", d.get("topic")): d for d in described}
    wrong, problems = [], []
    for name, partitions in wanted.items():
        meta = seen.get(name)
        if meta is None or meta.get("error_code", 0) != 0 or not meta["partitions"]:
            problems.append(f"{name!r} not in the metadata yet")
            continue
        count = len(meta["partitions"])
        if count != partitions:
            wrong.append(
                f"topic {name!r} has {count} partitions, CXPULSE_PARTITIONS={partitions}; set "
                f"CXPULSE_PARTITIONS={count} (and use a new CXPULSE_APP_ID) or recreate the topic"
            )
        elif any(p.get("leader_id", p.get("leader", -1)) < 0 for p in meta["partitions"]):
            problems.append(f"{name!r} has partitions without a leader")
    return wrong, problems
