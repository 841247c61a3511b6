"""/live, /ready and the start-up deadline: the rules alone, then a real worker on a real Kafka."""

from __future__ import annotations

import time

import pytest
from helpers import http_get, pick, wait_for

from streams.live.health import Health, StartupDeadline

READY = Health(assigned=True, recovering=False, broker_up=True)


def test_ready_needs_every_condition_and_says_which_fails():
    assert READY.ready and READY.reason() == "ready"
    recovering = Health(assigned=True, recovering=True, broker_up=True)
    assert not recovering.ready and recovering.joined
    assert recovering.reason() == "rebuilding tables from their changelogs"
    lost = Health(assigned=False, recovering=False, broker_up=False, missing_topics=("b", "a"))
    assert not lost.ready and not lost.joined
    assert Health(assigned=True, recovering=False, broker_up=None).reason() == "broker not checked yet"
    assert lost.reason() == (
        "no bootstrap broker accepts connections (check CXPULSE_BROKER); "
        "topics missing from the consumer's metadata: a, b; "
        "no partition assignment from the consumer group yet (joining or rebalancing)"
    )


def test_the_deadline_ends_only_a_start_that_never_joined():
    waiting = Health(assigned=False, recovering=False, broker_up=True)
    deadline = StartupDeadline(started_at=100.0, timeout=30.0)
    assert not deadline.expired(waiting, 129.9)
    assert deadline.expired(waiting, 130.0)
    joined_late = StartupDeadline(started_at=100.0, timeout=30.0)
    assert not joined_late.expired(Health(assigned=True, recovering=True, broker_up=True), 110.0)
    # Once joined, later rebalances and recoveries are not start-up: they never end the worker.
    assert not joined_late.expired(waiting, 500.0)


def get(port: int, path: str) -> tuple[int, str]:
    return http_get(f"http://127.0.0.1:{port}{path}")


@pytest.mark.kafka
def test_a_started_worker_is_live_and_ready(stack):
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    wait_for(lambda: get(worker.port, "/ready") == (200, "ready\n"), 30, what="/ready to answer 200")
    assert get(worker.port, "/live") == (200, "live\n")
    assert pick(worker.metrics(), "cxpulse_worker_ready") == 1


@pytest.mark.kafka
def test_a_worker_that_cannot_join_its_group_says_why_and_exits_1(stack, kafka):
    """Another member holds the group with a protocol Faust does not speak: the join never completes."""
    from kafka import KafkaConsumer
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    squatter = KafkaConsumer(
        stack.tickets,
        bootstrap_servers=kafka.bootstrap,
        group_id=stack.app_id,
        partition_assignment_strategy=[RoundRobinPartitionAssignor],
    )
    try:
        wait_for(lambda: squatter.poll(timeout_ms=500) is not None and squatter.assignment(), 30,
                 what="the other member to hold the group")  # fmt: skip
        stack.extra_env["CXPULSE_STARTUP_TIMEOUT_SECONDS"] = "15"
        worker = stack.worker()
        _, reason = wait_for(
            lambda: (r := get(worker.port, "/ready"))[0] == 503 and r, 30, what="/ready to answer 503"
        )
        assert "no partition assignment from the consumer group yet" in reason
        assert pick(worker.metrics(), "cxpulse_worker_ready") == 0
        started = time.monotonic()
        assert worker.process is not None
        while worker.process.poll() is None and time.monotonic() - started < 45:
            squatter.poll(timeout_ms=200)  # keep the other member in the group meanwhile
        assert worker.process.returncode == 1, worker.log_tail()
        said = [
            line for line in worker.log_tail(200).splitlines() if "CXPULSE_STARTUP_TIMEOUT_SECONDS" in line
        ]
        assert len(said) == 1, worker.log_tail()
        assert (
            said[0]
            .rstrip()
            .endswith(
                "(CXPULSE_STARTUP_TIMEOUT_SECONDS): no partition assignment from the consumer group yet "
                "(joining or rebalancing); exiting so that it is started again"
            )
        )
    finally:
        squatter.close()


def test_the_worker_serves_metrics_and_health_and_nothing_else():
    from streams.live.app import build_app
    from streams.settings import Settings

    app = build_app(Settings()).app
    app.web.init_server()
    routes = {(r.method, r.resource.canonical) for r in app.web.web_app.router.routes()}
    assert routes == {(m, p) for m in ("GET", "HEAD") for p in ("/metrics", "/agents", "/live", "/ready")}


@pytest.mark.kafka
def test_table_and_router_views_are_not_served(stack, kafka):
    """A known ticket's and customer's state exist, and still no path shows them."""
    from helpers import event, produce

    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    now = time.time()
    ticket = event("ticket.created", "T-private", now, customer_id="K-private")
    produce(kafka.bootstrap, stack.records([ticket]))
    counted = {"queue": "billing", "channel": "email"}
    wait_for(lambda: pick(worker.metrics(), "cxpulse_tickets_created_total", **counted), 30, what="ticket")
    paths = [
        "/", "/table/", "/table/ticket-state/", "/table/ticket-state/T-private/",
        "/table/customer-state/K-private/", "/router/", "/graph/", "/stats/", "/performance/",
    ]  # fmt: skip
    for path in paths:
        status, body = get(worker.port, path)
        assert status == 404, (path, status)
        assert "private" not in body
