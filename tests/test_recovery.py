"""Table recovery on a real Apache Kafka, in the cases stream-processing users run into most.

A changelog compacted by the broker before a restart, a rebalance while a worker is still
rebuilding its tables, and buckets that must still expire after a recovery: each ends with the
numbers computed independently from the same events.
"""

from __future__ import annotations

import time

import orjson
import pytest
from helpers import event, produce, wait_for
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from oracle import Rules
from test_live_kpis import CATALOGUE_ENV, RULES, assert_exact
from test_resilience import assert_union_exact, first_worker_fed, wait_sharing

pytestmark = pytest.mark.kafka
DEFAULTS = Rules()  # a stack with no settings of its own

TABLES = ("ticket-state", "call-state", "survey-state", "customer-state", "agent-state", "queue-kpis")
# Short segments that the log cleaner may compact at once, tombstones included.
EAGER_COMPACTION = {
    "cleanup.policy": "compact",
    "segment.ms": "100",  # a new segment for nearly every batch: all but the last may be compacted
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "0",
}


@pytest.fixture
def long_grace(stack):
    stack.extra_env.update(CATALOGUE_ENV)
    return stack


def changelogs(stack) -> list[str]:
    return [f"{stack.app_id}-{table}-changelog" for table in TABLES]


def records_and_ends(bootstrap: str, topics: list[str]) -> tuple[int, int, list]:
    """How many records the topics hold, the sum of their end offsets, and the records."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        consumer.topics()  # the cluster's metadata, so that every topic's partitions are known
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        assert {tp.topic for tp in parts} == set(topics), f"no partitions known for some of {topics}"
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        held = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=1000).values():
                held.extend(batch)
        return len(held), sum(ends.values()), held
    finally:
        consumer.close()


def test_a_changelog_compacted_before_a_restart_rebuilds_the_same_numbers(long_grace, kafka):
    """Compaction keeps each key's newest record and drops tombstones: the state must not change."""
    stack = long_grace
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        admin.create_topics(
            [
                NewTopic(name, stack.partitions, 1, topic_configs=EAGER_COMPACTION)
                for name in changelogs(stack)
            ]
        )
    finally:
        admin.close()
    events, first = first_worker_fed(stack, kafka)
    assert_exact(first, events, RULES, timeout=180)
    first.stop()

    def compacted() -> bool:
        held, ends, _ = records_and_ends(kafka.bootstrap, changelogs(stack))
        return held < ends  # superseded records are gone: the changelogs have gaps

    wait_for(compacted, 120, interval=2, what="the log cleaner to compact the changelogs")
    second = stack.worker("second")
    second.wait_assigned(stack.partitions, timeout=120)
    assert_exact(second, events, RULES, timeout=180)


def test_a_changelog_batch_kafka_refuses_stops_the_worker_uncommitted_and_a_restart_ends_exact(
    long_grace, kafka
):
    """A broker that refuses a state write (here a changelog's max.message.bytes) must not lose it:
    the worker stops without committing the events behind it, and once fixed resumes exactly."""
    from kafka.admin import ConfigResource, ConfigResourceType

    stack = long_grace
    refusing = f"{stack.app_id}-ticket-state-changelog"
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        config = {"cleanup.policy": "compact", "max.message.bytes": "600"}
        admin.create_topics([NewTopic(refusing, stack.partitions, 1, topic_configs=config)])
        events, first = first_worker_fed(stack, kafka, n=1000)
        wait_for(lambda: first.process.poll() is not None, 90, what="the worker to stop")
        log = first.log_path.read_text()
        assert first.process.returncode != 0, log[-3000:]
        assert f"Kafka refused a record batch for {refusing}" in log, log[-3000:]
        committed = admin.list_group_offsets(stack.app_id).get(stack.app_id, {})
        taken = sum(meta.offset for tp, meta in committed.items() if tp.topic in stack.topics.values())
        assert taken < len(events), f"{taken} of {len(events)} source records committed"
        resource = ConfigResource(
            ConfigResourceType.TOPIC, refusing, configs={"max.message.bytes": "1048588"}
        )
        admin.alter_configs([resource])
    finally:
        admin.close()
    second = stack.worker("second")
    second.wait_assigned(stack.partitions, timeout=120)
    assert_exact(second, events, RULES, timeout=180)


def test_a_rebalance_while_a_worker_rebuilds_its_tables_ends_exact(long_grace, kafka):
    """A second worker joins while the first is still reading its changelogs back."""
    stack = long_grace
    events, first = first_worker_fed(stack, kafka, n=6000)
    assert_exact(first, events, RULES, timeout=240)
    first.stop()
    rebuilding = stack.worker("rebuilding")

    def recovering() -> bool:
        try:
            return "rebuilding" in rebuilding.readiness()
        except OSError:
            return False

    wait_for(recovering, 90, interval=0.02, what="the worker to be rebuilding its tables")
    joining = stack.worker("joining")
    workers = [rebuilding, joining]
    wait_sharing(stack.partitions, workers, "the two workers to share the partitions")
    assert_union_exact(events, workers, "exact numbers after a rebalance during recovery", stack=stack,
                       bootstrap=kafka.bootstrap)  # fmt: skip


def test_buckets_older_than_every_window_still_expire_after_a_recovery(stack, kafka):
    """Buckets written before a restart are deleted by the restarted worker once they leave every window."""
    old = time.time() - 3 * 3600
    before = [event("call.queued", f"OLD-{i}", old + 60 * i, "billing", "phone") for i in range(5)]
    first = stack.worker("first")
    first.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, stack.records(before))
    assert_exact(first, before, DEFAULTS, timeout=90)
    first.stop()
    second = stack.worker("second")
    second.wait_assigned(stack.partitions, timeout=120)
    now = time.time()
    after = [event("call.queued", f"NEW-{i}", now - 30 + i, "billing", "phone") for i in range(3)]
    produce(kafka.bootstrap, stack.records(after))
    assert_exact(second, before + after, DEFAULTS, timeout=90)

    def latest_values() -> dict[str, bytes | None]:
        _, _, held = records_and_ends(kafka.bootstrap, [f"{stack.app_id}-queue-kpis-changelog"])
        latest: dict[str, bytes | None] = {}
        for record in held:
            latest[orjson.loads(record.key)] = record.value
        return latest

    def old_buckets_deleted() -> bool:
        latest = latest_values()
        # Buckets only: the days of arrival history beside them ("billing|phone|day|…") stay for weeks.
        buckets = {k: v for k, v in latest.items() if k.startswith("billing|phone|") and "|day|" not in k}
        old_ones = {k: v for k, v in buckets.items() if int(k.rsplit("|", 1)[1]) < old + 3600}
        return bool(old_ones) and all(v is None for v in old_ones.values())

    wait_for(old_buckets_deleted, 60, interval=1, what="tombstones for the buckets from before the restart")
