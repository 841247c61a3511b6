"""The live worker on a real Apache Kafka: exact KPI values for hand-made event lists."""

from __future__ import annotations

import time

import orjson
import pytest
from helpers import as_records, event, produce, wait_for
from oracle import expected_samples, kpi_samples

pytestmark = pytest.mark.kafka

NOW = time.time()


def scenario(now: float) -> tuple[list[dict], list[dict]]:
    """Tickets and calls over the last three hours, across queues and channels."""
    t, c = [], []
    # Customer ticket, bot reply first (ignored), agent replies 5 min after creation, escalated twice.
    t += [
        event("ticket.created", "T1", now - 700, "billing", "email"),
        event("ticket.replied", "T1", now - 690, "billing", "email", author="bot"),
        event("ticket.replied", "T1", now - 650, "billing", "email", author="customer"),
        event("ticket.replied", "T1", now - 400, "billing", "email", author="agent", agent_id="a1"),
        event("ticket.replied", "T1", now - 300, "billing", "email", author="agent", agent_id="a1"),
        event("ticket.escalated", "T1", now - 200, "billing", "email"),
        event("ticket.escalated", "T1", now - 100, "billing", "email"),
        event("ticket.resolved", "T1", now - 50, "billing", "email"),
    ]
    # Fast chat: answered in 40 s, in the last 5 minutes.
    t += [
        event("ticket.created", "T2", now - 130, "billing", "chat"),
        event("ticket.replied", "T2", now - 90, "billing", "chat", author="agent"),
    ]
    # Old ticket: created 2.5 h ago, first answer 40 min ago (outside 15m, inside 1h), escalated.
    t += [
        event("ticket.created", "T3", now - 9000, "sales", "email"),
        event("ticket.replied", "T3", now - 2400, "sales", "email", author="agent"),
        event("ticket.escalated", "T3", now - 2300, "sales", "email"),
    ]
    # Unanswered tickets, one opened by an agent.
    t += [
        event("ticket.created", "T4", now - 60, "billing", "email"),
        event("ticket.created", "T5", now - 1500, "sales", "email", author="agent"),
    ]
    # Calls: answered after 12 s, after 95 s, abandoned after 30 s, abandoned long ago.
    c += [
        event("call.queued", "C1", now - 150, "billing", "phone"),
        event("call.answered", "C1", now - 138, "billing", "phone", agent_id="a2"),
        event("call.ended", "C1", now - 20, "billing", "phone"),
        event("call.queued", "C2", now - 800, "billing", "phone"),
        event("call.answered", "C2", now - 705, "billing", "phone"),
        event("call.queued", "C3", now - 200, "billing", "phone"),
        event("call.abandoned", "C3", now - 170, "billing", "phone"),
        event("call.queued", "C4", now - 5000, "sales", "phone"),
        event("call.abandoned", "C4", now - 4990, "sales", "phone"),
        # An answer after an abandon is not an answer.
        event("call.answered", "C4", now - 4980, "sales", "phone"),
    ]
    return t, c


def assert_exact(worker, events: list[dict], timeout: float = 60) -> dict:
    """Wait until the worker shows exactly the expected KPI samples, then check they stay so."""

    def matches() -> dict | None:
        t0 = time.time()
        got = kpi_samples(worker.metrics())
        if int(t0 // 60) != int(time.time() // 60):
            return None  # scrape straddled a bucket boundary: ask again
        want = expected_samples(events, t0)
        return got if got == want else None

    try:
        got = wait_for(matches, timeout, what="exact KPI samples")
    except AssertionError:
        now = time.time()
        got, want = kpi_samples(worker.metrics()), expected_samples(events, now)
        diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
        raise AssertionError(f"KPI samples differ (got, want): {diff}\n{worker.log_tail()}") from None
    time.sleep(2)
    assert kpi_samples(worker.metrics()) == expected_samples(events, time.time())
    return got


@pytest.fixture
def long_grace(stack):
    # The scenario spans 3 h and partitions interleave freely: nothing should count as late here.
    stack.extra_env["CXPULSE_GRACE_SECONDS"] = "86400"
    return stack


def test_three_kpis_exact_on_real_kafka(long_grace, kafka):
    stack = long_grace
    tickets, calls = scenario(time.time())
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, as_records(stack.tickets, tickets) + as_records(stack.calls, calls))
    got = assert_exact(worker, tickets + calls)
    # Spot checks a supervisor would recognise, on top of the full comparison.
    billing_email = frozenset({("queue", "billing"), ("channel", "email")})
    assert got[("cxpulse_tickets_escalated_total", billing_email)] == 1
    assert got[("cxpulse_first_response_seconds_sum", billing_email)] == pytest.approx(300)
    billing_phone_5m = frozenset({("queue", "billing"), ("channel", "phone"), ("window", "5m")})
    assert got[("cxpulse_call_abandonment_ratio", billing_phone_5m)] == pytest.approx(0.5)
    samples = worker.metrics()
    assert (
        samples[("cxpulse_events_total", frozenset({("topic", stack.tickets), ("type", "ticket.replied")}))]
        == 6
    )


def test_duplicates_and_bad_records_change_nothing(long_grace, kafka):
    from kafka import KafkaConsumer

    stack = long_grace
    tickets, calls = scenario(time.time())
    good = as_records(stack.tickets, tickets) + as_records(stack.calls, calls)
    bad = [
        (stack.tickets, b"T9", b"{not json"),
        (stack.tickets, b"T9", orjson.dumps({**tickets[0], "ticket_id": "T9", "type": "ticket.merged"})),
        (
            stack.tickets,
            b"T9",
            orjson.dumps({**tickets[0], "ticket_id": "T9", "occurred_at": "2026-11-24T10:00:00"}),
        ),
        (
            stack.calls,
            b"C9",
            orjson.dumps({k: v for k, v in calls[0].items() if k != "queue"} | {"call_id": "C9"}),
        ),
        (stack.calls, b"C1", b"\xff\xfe\x00garbage"),
        (stack.tickets, b"other-key", orjson.dumps(tickets[0])),
    ]
    # Every good record twice, interleaved with the bad ones.
    records = []
    for i, rec in enumerate(good):
        records.append(rec)
        if i % 5 == 0 and bad:
            records.append(bad.pop())
        records.append(rec)
    records += bad
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, records)
    assert_exact(worker, tickets + calls)
    samples = worker.metrics()
    invalid = {
        (dict(labels)["topic"], dict(labels)["reason"]): v
        for (name, labels), v in samples.items()
        if name == "cxpulse_events_invalid_total"
    }
    assert invalid == {
        (stack.tickets, "malformed_json"): 1,
        (stack.tickets, "unknown_type"): 1,
        (stack.tickets, "timestamp_without_offset"): 1,
        (stack.tickets, "key_mismatch"): 1,
        (stack.calls, "missing_field"): 1,
        (stack.calls, "bad_encoding"): 1,
    }
    dups = sum(v for (name, _), v in samples.items() if name == "cxpulse_events_duplicate_total")
    assert dups == len(good)

    consumer = KafkaConsumer(
        stack.deadletter,
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    parked = [orjson.loads(m.value) for m in consumer]
    consumer.close()
    assert sorted((p["topic"], p["reason"]) for p in parked) == sorted(invalid)
    assert all(isinstance(p["offset"], int) and p["detail"] for p in parked)
