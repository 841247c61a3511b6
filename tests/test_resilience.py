"""Restarts and scale-out on a real Apache Kafka: totals stay exact, no series is exported twice."""

from __future__ import annotations

import contextlib
import threading
import time

import orjson
import pytest
from helpers import event, group_lag, pick, produce, series, wait_for
from oracle import POLICY_NAMES, agents_differ, expected_samples, kpi_samples
from test_live_kpis import CATALOGUE_ENV, RULES, assert_exact, same, scenario

from streams.simulator.traffic import Traffic

pytestmark = pytest.mark.kafka


@pytest.fixture
def long_grace(stack):
    stack.extra_env.update(CATALOGUE_ENV)
    return stack


def simulated(stack, n: int, start: float) -> tuple[list[dict], list[tuple[str, bytes, bytes]]]:
    events, records = [], []
    for family, key, ev in Traffic(start=start, rate=6, seed=5).take(n):
        events.append(ev)
        records.append((stack.topics[family], key.encode(), orjson.dumps(ev)))
    return events, records


def union_exact(events: list[dict], *workers) -> dict | None:
    """The workers' KPI series together, if no series is exported twice and they match exactly."""
    t0 = time.time()
    scrapes = [kpi_samples(w.metrics()) for w in workers]
    if int(t0 // 60) != int(time.time() // 60):
        return None  # scrape straddled a bucket boundary: ask again
    merged: dict = {}
    for samples in scrapes:
        overlap = {k for k in set(merged) & set(samples) if k[0] not in POLICY_NAMES}
        assert not overlap, f"series exported by two workers: {sorted(overlap)[:5]}"
        differ = {k for k in set(merged) & set(samples) if merged[k] != samples[k]}
        assert not differ, f"targets that differ between workers: {sorted(differ)[:5]}"
        merged.update(samples)
    return merged if same(merged, expected_samples(events, t0, RULES)) else None


def fact_topic_totals(stack, bootstrap: str, counter: str) -> dict[str, int]:
    """``queue|channel`` -> ``counter`` summed over the fact topic, each source record once.

    On a failure this says which stage lost or doubled a fact: missing here, the entity
    agents never sent it; present here but not in /metrics, the aggregation dropped it.
    """
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(f"{stack.app_id}-kpi-facts", bootstrap_servers=bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)  # fmt: skip
    seen: set[tuple[str, str, int]] = set()
    totals: dict[str, int] = {}
    for record in consumer:
        for key, message in orjson.loads(record.value):  # a batch's messages for the partition
            records = message.get("records") or [[message["offset"], message["facts"]]]
            for offset, facts in records:
                if (key, message["source"], offset) in seen:
                    continue
                seen.add((key, message["source"], offset))
                for fact in facts:
                    totals[key] = totals.get(key, 0) + fact[1].get(counter, 0)
    consumer.close()
    return totals


def assert_union_exact(
    events: list[dict], workers: list, what: str, timeout: float = 180, stack=None, bootstrap: str = ""
) -> None:
    """Wait for :func:`union_exact`; on failure show the samples that differ, and the logs."""
    try:
        wait_for(lambda: union_exact(events, *workers), timeout, what=what)
    except AssertionError:
        got: dict = {}
        for w in workers:
            got.update(kpi_samples(w.metrics()))
        want = expected_samples(events, time.time(), RULES)
        diff = {
            k: (got.get(k), want.get(k))
            for k in set(got) | set(want)
            if k not in got or k not in want or not same({k: got[k]}, {k: want[k]})
        }
        logs = log_tails(workers)
        if stack is not None:

            def per_queue(samples: dict) -> dict[str, float]:
                named = {k: v for k, v in samples.items() if k[0] == "cxpulse_calls_offered_total"}
                return {
                    "|".join(dict(labels)[n] for n in ("queue", "channel")): v
                    for (_, labels), v in named.items()
                }

            exported, wanted = per_queue(got), per_queue(want)
            on_topic = fact_topic_totals(stack, bootstrap, "calls_offered")
            rows = {
                k: (exported.get(k), on_topic.get(k), wanted.get(k)) for k in sorted({*wanted, *on_topic})
            }
            logs += f"\ncalls offered (exported, on the fact topic, wanted): {rows}"
        shown = dict(sorted(diff.items(), key=str)[:12])
        # The differences last: a CI log shows the end of a failure first.
        raise AssertionError(f"{logs}\n{len(diff)} samples differ (got, want): {shown}") from None


def log_tails(workers, lines: int = 20) -> str:
    return "\n".join(f"--- {w.log_path.name}\n{w.log_tail(lines)}" for w in workers)


def sharing(partitions: int, *workers) -> bool:
    """Whether the workers together own every partition, each at least one."""
    counts = [w.assigned() for w in workers]
    return all(counts) and sum(counts) == partitions


def wait_sharing(partitions: int, workers: list, what: str, timeout: float = 120) -> None:
    """Wait for :func:`sharing`; on failure say what each worker owns, why it is not ready, and its log."""
    try:
        wait_for(lambda: sharing(partitions, *workers), timeout, what=what)
    except AssertionError as exc:
        states = []
        for w in workers:
            try:
                states.append(f"{w.log_path.name}: owns {w.assigned():.0f}, /ready {w.readiness()!r}")
            except OSError as error:
                states.append(f"{w.log_path.name}: {error}")
        raise AssertionError(f"{log_tails(workers, 40)}\n" + "\n".join(states) + f"\n{exc}") from None


def events_seen(worker) -> float:
    return sum(v for (name, _), v in worker.metrics().items() if name == "cxpulse_events_total")


def first_worker_fed(stack, kafka, n: int = 3000) -> tuple[list[dict], object]:
    """A worker owning every partition, and ``n`` simulated events of the last half hour sent to it."""
    events, records = simulated(stack, n, time.time() - 1800)
    first = stack.worker("first")
    first.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, records)
    return events, first


def test_sigkill_mid_stream_then_restart_resumes_exactly(long_grace, kafka):
    stack = long_grace
    events, first = first_worker_fed(stack, kafka)

    def mid_stream() -> float:
        seen = events_seen(first)
        return seen if seen >= 800 else 0

    seen = wait_for(mid_stream, 120, interval=0.05, what="worker to be mid-stream")
    first.kill()
    assert seen < len(events), "the worker finished before it could be killed mid-stream"
    second = stack.worker("second")
    second.wait_assigned(stack.partitions, timeout=120)
    assert_exact(second, events, RULES, timeout=180)


def test_two_workers_split_the_queues_without_overlap(long_grace, kafka):
    stack = long_grace
    tickets, calls = scenario(time.time())
    events = tickets + calls
    w1, w2 = stack.worker("w1"), stack.worker("w2")

    wait_sharing(stack.partitions, [w1, w2], "two workers sharing the partitions")
    topics = {"ticket": stack.tickets, "call": stack.calls}
    produce(
        kafka.bootstrap,
        [
            (topics[e["type"].split(".")[0]], (e.get("ticket_id") or e["call_id"]).encode(), orjson.dumps(e))
            for e in events
        ],
    )

    assert_union_exact(events, [w1, w2], "the two workers' series to add up exactly", 90)
    assert (
        pick(w1.metrics(), "cxpulse_worker_assigned_partitions")
        + pick(w2.metrics(), "cxpulse_worker_assigned_partitions")
        == stack.partitions
    )


def test_broker_outage_the_worker_reconnects_and_ends_exact(own_stack, own_kafka):
    """Kafka goes away under a running worker for longer than a commit interval and several broker
    checks: /metrics keeps answering and shows it, and the worker ends exact once it is back."""
    stack, kafka = own_stack, own_kafka
    stack.extra_env.update(CATALOGUE_ENV)
    now = time.time()
    tickets, calls = scenario(now)
    first = tickets[: len(tickets) // 2] + calls[: len(calls) // 2]
    second = tickets[len(tickets) // 2 :] + calls[len(calls) // 2 :]
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    produce(kafka.bootstrap, stack.records(first))
    wait_for(lambda: pick(worker.metrics(), "cxpulse_broker_up") == 1, 30, what="broker_up 1")
    kafka.stop()
    try:
        outage_seen = wait_for(
            lambda: pick(worker.metrics(), "cxpulse_broker_up") == 0, 15, what="broker_up 0"
        )
        time.sleep(8)
        assert worker.metrics()  # /metrics answers all through the outage
        assert worker.process.poll() is None, worker.log_tail()
    finally:
        kafka.start()
    assert outage_seen
    produce(kafka.bootstrap, stack.records(second))
    wait_for(lambda: pick(worker.metrics(), "cxpulse_broker_up") == 1, 30, what="broker_up back to 1")
    assert_exact(worker, tickets + calls, RULES, timeout=180)


def test_a_third_worker_joins_and_one_leaves_while_traffic_flows(long_grace, kafka):
    stack = long_grace
    events, records = simulated(stack, 4000, time.time() - 1500)
    w1, w2 = stack.worker("w1"), stack.worker("w2")
    workers = [w1, w2]

    def scrape_all() -> list[dict]:
        out = []
        for w in workers:
            if w.process.poll() is None:
                with contextlib.suppress(OSError):
                    out.append(kpi_samples(w.metrics()))
        return out

    def no_overlap() -> None:
        scrapes = [{k for k in s if k[0] not in POLICY_NAMES} for s in scrape_all()]
        for i, a in enumerate(scrapes):
            for b in scrapes[i + 1 :]:
                assert not (a & b), f"series exported twice: {sorted(a & b)[:3]}"

    # Callers still waiting at the end were queued before the rebalances: their wait must survive them.
    waiting = expected_samples(events, time.time(), RULES)
    assert sum(v for k, v in waiting.items() if k[0] == "cxpulse_calls_waiting") > 0
    wait_sharing(stack.partitions, [w1, w2], "two workers sharing the partitions")
    sender = threading.Thread(target=lambda: [produce(kafka.bootstrap, records[i : i + 400]) or time.sleep(1)
                                              for i in range(0, len(records), 400)])  # fmt: skip
    sender.start()
    w3 = stack.worker("w3")
    workers.append(w3)
    wait_sharing(stack.partitions, [w1, w2, w3], "three workers sharing the partitions")
    no_overlap()
    w1.stop()  # leaves the group cleanly
    wait_sharing(stack.partitions, [w2, w3], "the two remaining workers taking over")
    no_overlap()
    sender.join()

    assert_union_exact(events, [w2, w3], "the remaining workers' series to add up exactly",
                       stack=stack, bootstrap=kafka.bootstrap)  # fmt: skip
    # Agents one by one: their states, days and last hours moved with their partitions.
    assert any(e["type"] == "agent.offer_missed" for e in events)
    try:
        wait_for(lambda: not agents_differ(events, [w2, w3]), 60, what="/agents to match the oracle")
    except AssertionError:
        raise AssertionError("\n".join(agents_differ(events, [w2, w3])[:12])) from None


def test_a_flood_of_queue_names_is_folded_not_exported(stack, kafka):
    """Fifty made-up queues with a cap of four: a handful of series, every ticket still counted."""
    stack.extra_env.update({"CXPULSE_MAX_LABEL_VALUES": "4", "CXPULSE_GRACE_SECONDS": "86400"})
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    now = time.time()
    flood = [event("ticket.created", f"F{i}", now - 30, f"queue-{i}", "email") for i in range(50)]
    produce(kafka.bootstrap, stack.records(flood))

    def counted() -> dict | None:
        created = series(worker.metrics(), "cxpulse_tickets_created_total")
        return created if sum(created.values()) == 50 else None

    created = wait_for(counted, 60, what="all 50 tickets counted")
    queues = {dict(labels)["queue"] for labels in created}
    assert "other" in queues
    assert len(queues - {"other"}) <= 4  # one admitted queue per fact partition
    folded = pick(worker.metrics(), "cxpulse_label_values_folded_total", label="queue")
    assert folded == 50 - len(queues - {"other"})
    assert created[frozenset({("queue", "other"), ("channel", "email")})] == folded


@pytest.mark.stress
def test_workers_killed_and_added_repeatedly_while_traffic_flows(long_grace, kafka):
    """Partitions move four times under traffic, twice away from a worker killed mid-batch.

    A killed worker leaves records it processed but never committed, and fact messages and
    changelog records it may or may not have delivered; the next owner replays those records
    and must neither lose nor double a single fact, whichever of them reached Kafka.
    """
    stack = long_grace
    events, records = simulated(stack, 6000, time.time() - 2400)
    live: list = []

    def move(what: str) -> None:
        wait_sharing(stack.partitions, live, what, timeout=150)

    live += [stack.worker("w1"), stack.worker("w2")]
    move("two workers sharing the partitions")
    sent = [0]

    def send() -> None:
        for i in range(0, len(records), 200):
            sent[0] += produce(kafka.bootstrap, records[i : i + 200])
            time.sleep(0.5)

    sender = threading.Thread(target=send)
    sender.start()
    live.append(stack.worker("w3"))
    move("w3 joining")
    live.pop(1).kill()
    killed_at = [sent[0]]
    move("w1 and w3 taking over from the killed w2")
    live.append(stack.worker("w4"))
    move("w4 joining")
    live.pop(0).kill()
    killed_at.append(sent[0])
    move("w3 and w4 taking over from the killed w1")
    sender.join()
    print(f"workers killed after {killed_at} of {len(records)} records")
    assert 0 < killed_at[0] < len(records), "the first kill missed the traffic"
    assert_union_exact(events, live, "the last two workers' series to add up exactly")
    # Every source record is committed: no offset was stepped over, none is held back.
    sources = list(stack.topics.values())

    def all_committed() -> bool:
        return group_lag(kafka.bootstrap, stack.app_id, sources) == 0

    wait_for(all_committed, 60, what="every source offset committed")


def rewind_group(bootstrap: str, group: str) -> int:
    """Commit the first offset of every partition ``group`` has committed; returns how many."""
    from kafka import KafkaAdminClient, KafkaConsumer

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        tps = list(admin.list_group_offsets(group)[group])
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.assign(tps)
        consumer.seek_to_beginning()
        for tp in tps:
            consumer.position(tp)
        consumer.commit()
    finally:
        consumer.close()
    return len(tps)


def test_reading_everything_again_from_the_first_offset_changes_nothing(long_grace, kafka):
    """The group's offsets rewound to the start while state stays: every record is a replay."""
    stack = long_grace
    events, first = first_worker_fed(stack, kafka)
    assert_exact(first, events, RULES, timeout=180)
    first.stop()
    assert rewind_group(kafka.bootstrap, stack.app_id) >= 4 * stack.partitions
    second = stack.worker("second")
    second.wait_assigned(stack.partitions, timeout=120)
    wait_for(lambda: group_lag(kafka.bootstrap, stack.app_id) == 0, 180, what="everything read again")
    assert_exact(second, events, RULES, timeout=30)
