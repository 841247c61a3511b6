"""End to end with a real Prometheus: Kafka → worker → Prometheus with the shipped rules.

Every dashboard query must parse and return data, and a surge of escalations in one queue must
put the escalation alert in Prometheus's own /api/v1/alerts.
"""

from __future__ import annotations

import time

import orjson
import pytest
from helpers import event, produce, wait_for
from prometheus_server import PrometheusServer
from test_deploy import dashboard_queries, rules

from streams.simulator.traffic import Traffic

pytestmark = pytest.mark.kafka

# Panels that read another exporter (kafka-exporter's consumer lag) have no data here.
NEEDS_OTHER_EXPORTER = ("kafka_consumergroup_lag",)
# Seasonal baselines and the forecast read the same time of earlier weeks: a fresh stack has none.
NEEDS_WEEKS_OF_HISTORY = (
    "queue:cxpulse_arrivals:expected_",
    "queue:cxpulse_arrivals:upper_",
    "queue:cxpulse_arrivals:lower_",
    "cxpulse_forecast_",
)


def concrete(expr: str) -> str:
    """A dashboard query as Grafana sends it with "All" picked for the template variables."""
    picked = expr.replace("$queue", ".*").replace("$channel", ".*")
    return picked.replace("$sl_thresholds", "10.0|20.0|30.0|60.0")


@pytest.fixture
def prometheus_stack(stack, tmp_path):
    stack.extra_env.update({"CXPULSE_CUSTOMER_BASE": "1000", "CXPULSE_GRACE_SECONDS": "3600"})
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    prometheus = PrometheusServer(tmp_path, [f"127.0.0.1:{worker.port}"]).start()
    yield stack, worker, prometheus
    prometheus.stop()


def test_dashboards_have_data_and_an_escalation_surge_alerts(prometheus_stack, kafka):
    stack, worker, prom = prometheus_stack
    wait_for(
        lambda: prom.query('up{job="cxpulse"} == 1')["data"]["result"],
        30,
        what="Prometheus scraping the worker",
    )

    # Ten minutes of a contact centre's traffic, sent while Prometheus watches the counters rise.
    now = time.time()
    records = [
        (stack.topics[family], key.encode(), orjson.dumps(ev))
        for family, key, ev in Traffic(start=now - 600, rate=3, seed=11).until(now)
    ]
    # Real feeds carry some garbage and some retries: a few of each.
    records += [(stack.tickets, b"T-bad", b"{oops"), records[0], records[1]]
    half = len(records) // 2
    produce(kafka.bootstrap, records[:half])
    time.sleep(3)
    produce(kafka.bootstrap, records[half:])

    queries = [concrete(q) for q in dashboard_queries() if not q.startswith("label_values")]
    assert len(queries) >= 40
    for q in queries:
        answer = prom.query(q)
        assert answer["status"] == "success", f"{q}: {answer.get('error')}"

    def empty() -> list[str]:
        return [
            q
            for q in queries
            if not any(n in q for n in NEEDS_OTHER_EXPORTER + NEEDS_WEEKS_OF_HISTORY)
            and not prom.query(q)["data"]["result"]
        ]

    missing = empty()
    deadline = time.monotonic() + 90
    while missing and time.monotonic() < deadline:
        time.sleep(2)
        missing = empty()
    assert missing == [], f"dashboard queries without data: {missing}\n{worker.log_tail(20)}"

    # Service level by threshold, at the queues' own threshold (20 s), is the service level the
    # worker counts: the wait histogram's 20 s bucket holds exactly the calls answered within it.
    # Both are evaluated at one moment whose scrapes are all in (the recorded series may miss
    # a scrape still arriving when its rule ran: promtool's cases check the recording itself).
    shipped = {r.get("record"): r["expr"] for r in rules()}["queue_le:cxpulse_service_level:ratio_rate1h"]
    counted = (
        "sum by (queue) (rate(cxpulse_calls_answered_within_sla_total[1h])) / (sum by (queue) "
        "(rate(cxpulse_calls_offered_total[1h])) "
        "- sum by (queue) (rate(cxpulse_calls_short_abandoned_total[1h])))"
    )

    def by_queue(expr: str, at: float) -> dict[str, float]:
        """Per queue, leaving out 0 ÷ 0: a queue whose counters did not rise within the hour of
        samples Prometheus holds (all its calls scraped at once) has no service level, and the
        shipped rule drops it too (``> -1`` is false for NaN)."""
        answer = prom.api("query", query=expr, time=at)["data"]["result"]
        return {
            r["metric"]["queue"]: float(r["value"][1])
            for r in answer
            if r["metric"].get("le") in (None, "20.0") and r["value"][1] != "NaN"
        }

    def settled() -> float | None:  # a moment whose scrapes are in, once the rates have data
        at = time.time() - 20
        return at if by_queue(counted, at) else None

    at = wait_for(settled, 60, what="service levels")
    found, expected = by_queue(shipped, at), by_queue(counted, at)
    # Equal but for the order Prometheus adds the channels up in.
    assert found.keys() == expected.keys() and found, (found, expected)
    assert all(abs(found[q] - expected[q]) < 1e-12 for q in found), (found, expected)

    # A surge: in queue "surge", two tickets in three are escalated, arriving over ten seconds.
    for batch in range(10):
        at = time.time()
        tickets = [event("ticket.created", f"S{batch}-{i}", at, "surge", "email") for i in range(6)]
        escalations = [event("ticket.escalated", f"S{batch}-{i}", at + 1, "surge", "email") for i in range(4)]
        produce(kafka.bootstrap, stack.records(tickets + escalations))
        time.sleep(1)

    def escalation_alert() -> list[dict]:
        alerts = prom.api("alerts")["data"]["alerts"]
        return [
            a
            for a in alerts
            if a["labels"]["alertname"] == "CxpulseEscalationRateRising"
            and a["labels"].get("queue") == "surge"
        ]

    alerts = wait_for(escalation_alert, 60, what="the escalation alert in Prometheus")
    assert alerts[0]["state"] in ("pending", "firing")
    assert alerts[0]["labels"]["severity"] == "page"
    # No other queue's escalation rate rose: the simulator's queues stay quiet.
    assert {a["labels"]["queue"] for a in escalation_alert()} == {"surge"}
    ratio = prom.query('queue:cxpulse_ticket_escalation:ratio_rate15m{queue="surge"}')["data"]["result"]
    assert 0.5 < float(ratio[0]["value"][1]) < 0.8
    print(f"escalation alert {alerts[0]['state']}: {alerts[0]['labels']}, ratio {ratio[0]['value'][1]}")
    print(f"{len(queries)} dashboard queries returned data")
