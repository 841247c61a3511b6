"""Personal data on a real Kafka: pseudonymised ids everywhere cxpulse writes, forgotten entities deleted."""

from __future__ import annotations

import time

import orjson
import pytest
from helpers import event, pick, produce, wait_for
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from oracle import expected_agents
from test_live_kpis import CATALOGUE_ENV
from test_resilience import assert_union_exact, simulated

from metrics.contract.pseudonyms import Pseudonyms

pytestmark = pytest.mark.kafka

KEY = "a-secret-of-at-least-16-chars"


def test_pseudonyms_are_stable_keyed_and_short():
    one, other = Pseudonyms(KEY), Pseudonyms(KEY + "!")
    assert one("cust-1") == one("cust-1") != one("cust-2")
    assert one("cust-1") != other("cust-1")
    assert one("cust-1").startswith("p-") and len(one("cust-1")) == 24
    with pytest.raises(ValueError, match="at least 16"):
        Pseudonyms("short")


def read_all(bootstrap: str, topics: list[str]) -> list[tuple[str, bytes | None, bytes | None]]:
    """Every record of ``topics``, from the first offset to the end."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        records = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for tp, batch in consumer.poll(timeout_ms=1000).items():
                records += [(tp.topic, r.key, r.value) for r in batch]
        return records
    finally:
        consumer.close()


def test_no_raw_customer_or_agent_id_is_kept_and_the_kpis_are_exact(stack, kafka, tmp_path):
    events, records = simulated(stack, 900, time.time() - 3600)
    # The operator's display names, by raw id: the worker matches them to the pseudonyms.
    shown = sorted(a for a, row in expected_agents(events, time.time()).items() if row["state"] != "offline")
    names = tmp_path / "agents.csv"
    names.write_text(f'# agent id,display name\n{shown[0]},Alice Martin\n{shown[1]},"Okafor, Bola"\n')
    stack.extra_env.update(
        {**CATALOGUE_ENV, "CXPULSE_PSEUDONYMISE_KEY": KEY, "CXPULSE_AGENT_NAMES_FILE": str(names)}
    )
    raw_ids = {ev[f] for ev in events for f in ("customer_id", "agent_id") if ev.get(f)}
    assert len(raw_ids) > 50
    # Rejected records that carry personal ids: a bad field beside them, a wrong type keyed by a
    # customer, and a customer record that is not even JSON.
    now = time.time()
    bad_ticket = event("ticket.replied", "T-bad-pd", now, author="robot", agent_id="agent-in-deadletter",
                       customer_id="cust-in-deadletter")  # fmt: skip
    bad_customer = {"event_id": "e-bad-pd", "type": "customer.vanished", "customer_id": "cust-keyed",
                    "occurred_at": "2026-01-01T00:00:00Z"}  # fmt: skip
    raw_ids |= {"agent-in-deadletter", "cust-in-deadletter", "cust-keyed", "cust-not-json"}
    records += [
        (stack.tickets, b"T-bad-pd", orjson.dumps(bad_ticket)),
        (stack.customers, b"cust-keyed", orjson.dumps(bad_customer)),
        (stack.customers, b"cust-not-json", b"customer cust-not-json {"),
    ]
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, records)
    assert_union_exact(events, [worker], "exact KPIs from pseudonymised ids")

    def rejected() -> float:
        return sum(v for (name, _), v in worker.metrics().items() if name == "cxpulse_events_invalid_total")

    wait_for(lambda: rejected() == 3, 30, what="the three rejections")
    # /agents: pseudonyms only, the operator's names beside two of them.
    pseudonym = Pseudonyms(KEY)
    doc = worker.agents()
    listed = {row["agent"]: row["name"] for row in doc["agents"]}
    want = {pseudonym(raw) for raw in expected_agents(events, doc["at"])}
    assert set(listed) == want and all(agent.startswith("p-") for agent in listed)
    assert sorted(name for name in listed.values() if name) == ["Alice Martin", "Okafor, Bola"]
    assert listed[pseudonym(shown[1])] == "Okafor, Bola"
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    written = [stack.deadletter] + [t for t in admin.list_topics() if t.startswith(stack.app_id)]
    admin.close()
    kept = read_all(kafka.bootstrap, written)
    assert len(kept) > 500  # changelogs, internal facts and parked records: plenty to search
    raw_ids_listed = sorted(raw_ids)
    quoted = [orjson.dumps(raw) for raw in raw_ids_listed]  # an id as a JSON string: "cust-12"
    for topic, key, value in kept:
        assert key is None or not any(
            key in (raw.encode(), q) for raw, q in zip(raw_ids_listed, quoted, strict=True)
        ), (topic, key)
        assert value is None or not any(q in value for q in quoted), (topic, value[:300])
    # Table keys are JSON strings.
    customers = [orjson.loads(key) for topic, key, _ in kept if topic.endswith("customer-state-changelog")]
    assert customers and all(k.startswith("p-") for k in customers)
    parked = [orjson.loads(v) for topic, _, v in kept if topic == stack.deadletter]
    assert sorted(p["reason"] for p in parked) == ["invalid_value", "malformed_json", "unknown_type"]
    by_reason = {p["reason"]: p for p in parked}
    assert orjson.loads(by_reason["invalid_value"]["value"])["agent_id"] == pseudonym("agent-in-deadletter")
    assert by_reason["unknown_type"]["key"] == pseudonym("cust-keyed")
    assert by_reason["malformed_json"]["value"] is None  # not JSON: withheld


def test_a_forgotten_ticket_leaves_a_tombstone_in_a_compacted_changelog(stack, kafka):
    stack.extra_env["CXPULSE_STATE_RETENTION_DAYS"] = "1"
    stack.extra_env["CXPULSE_DEADLETTER_RETENTION_DAYS"] = "3"
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    now = time.time()
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    # All on partition 0: expiry sweeps a partition's keys while it processes that partition's
    # events, every 2 000 new entities (or 30 s).
    old = event("ticket.created", "T-forgotten", now - 2 * 86400)
    producer.send(stack.tickets, key=b"T-forgotten", value=orjson.dumps(old), partition=0)
    for i in range(2001):
        fresh = event("ticket.created", f"T-fresh-{i}", now - 60)
        producer.send(stack.tickets, key=fresh["ticket_id"].encode(), value=orjson.dumps(fresh), partition=0)
    producer.flush()
    producer.close()
    wait_for(lambda: pick(worker.metrics(), "cxpulse_entities_expired_total") == 1, 60, what="the expiry")

    changelog = f"{stack.app_id}-ticket-state-changelog"
    history = [(k, v) for t, k, v in read_all(kafka.bootstrap, [changelog]) if k == b'"T-forgotten"']
    assert len(history) == 2 and history[0][1] is not None and history[1][1] is None  # state, then tombstone

    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in (changelog, stack.deadletter)]
        described = admin.describe_configs(resources)
    finally:
        admin.close()
    (topics,) = described.values()  # {resource type: {topic: {key: {"value": ...}}}}
    configs = {topic: {key: data["value"] for key, data in keys.items()} for topic, keys in topics.items()}
    assert configs[changelog]["cleanup.policy"] == "compact"
    assert configs[stack.deadletter]["retention.ms"] == str(3 * 86400 * 1000)


def test_the_personal_data_table_names_every_table_and_topic_the_worker_makes():
    """docs/security.md answers "where is it, and for how long?" for each place a worker writes."""
    from helpers import ROOT

    from streams.live.app import build_app
    from streams.settings import Settings

    doc = (ROOT / "docs" / "security.md").read_text()
    section = doc.split("## Personal data cxpulse keeps", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| where")]
    listed = " ".join(row.split(" | ")[0] for row in rows)
    settings = Settings()
    pipeline = build_app(settings)
    for spec in pipeline.topic_specs():
        if spec.name.startswith(f"{settings.app_id}-__assignor"):
            continue  # Faust's own leader election: no data
        named = spec.name.replace(f"{settings.app_id}-", "<app id>-")
        assert f"`{named}`" in listed or f"`{spec.name}`" in listed, f"{spec.name} not in docs/security.md"
    for table in pipeline.app.tables.values():
        assert f"{table.name} table" in listed, f"table {table.name} not in docs/security.md"
    assert all(row.count(" | ") == 2 and row.split(" | ")[2].strip(" |") for row in rows), (
        "a row says no time"
    )
