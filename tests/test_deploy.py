"""What ships in deploy/ and docker-compose.yml: rules that pass promtool, dashboards in sync with
their source, names that cxpulse really exports, and a compose file consistent with the settings."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import yaml
from helpers import ROOT
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from metrics.aggregates.queue import apply_facts, new_aggregate, new_customer_base
from metrics.definitions import CALL_WAIT_BUCKETS, priority_key
from metrics.export.collector import KpiCollector
from metrics.export.worker import WorkerMetrics
from metrics.policy import Policy
from streams.settings import Settings

RULE_FILES = sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
RULE_TESTS = sorted((ROOT / "deploy/prometheus/tests").glob("*_test.yml"))
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
# Series from other exporters that the rules and dashboards use on purpose.
EXTERNAL = {"up", "kafka_consumergroup_lag"}
NOW = 1_700_000_000.0


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)


def rules() -> list[dict]:
    return [r for path in RULE_FILES for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def test_promtool_checks_the_rules():
    result = run("promtool", "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.strip() for line in result.stdout.splitlines() if "SUCCESS" in line] == [
        "SUCCESS: 35 rules found",  # cxpulse-slo.rules.yml
        "SUCCESS: 69 rules found",  # cxpulse.rules.yml
    ]


def test_the_slo_rules_are_generated_from_their_spec():
    result = run(sys.executable, "deploy/prometheus/slo.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_every_alert_firing_and_not():
    # One promtool per test file, side by side: each file is independent, and the machine has
    # more than one core.
    running = [
        subprocess.Popen(["promtool", "test", "rules", str(path)], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for path in RULE_TESTS
    ]  # fmt: skip
    for path, process in zip(RULE_TESTS, running, strict=True):
        output, _ = process.communicate()
        assert process.returncode == 0, f"{path.name}:\n{output}"
    tests = [t for path in RULE_TESTS for t in yaml.safe_load(path.read_text())["tests"]]
    tested = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])}
    firing = {case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case["exp_alerts"]}
    alerts = {r["alert"] for r in rules() if "alert" in r}
    assert tested == alerts == firing
    # A quiet case for every alert: an evaluation expecting nothing, or another label set left silent.
    assert len(alerts) == 17


def test_promtool_unit_tests_evaluate_recordings_before_their_readers():
    """promtool evaluates rule groups in a random order at each step unless told: a test whose
    alert reads a recorded series from another group would then pass or fail by chance."""
    for path in RULE_TESTS:
        spec = yaml.safe_load(path.read_text())
        files = [path.parent / name for name in spec["rule_files"]]
        groups = [g for f in files for g in yaml.safe_load(f.read_text())["groups"]]
        order = spec.get("group_eval_order", [])
        assert sorted(order) == sorted(g["name"] for g in groups), path.name
        recorded_by = {r["record"]: g["name"] for g in groups for r in g["rules"] if "record" in r}
        position = {name: i for i, name in enumerate(order)}
        for g in groups:
            for r in g["rules"]:
                for name in referenced_names(r["expr"]) & recorded_by.keys():
                    assert position[recorded_by[name]] <= position[g["name"]], (path.name, g["name"], name)


def test_promtool_checks_the_compose_prometheus_config():
    result = run("promtool", "check", "config", "--syntax-only", "deploy/prometheus/prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_are_generated_from_their_source():
    result = run(sys.executable, "deploy/grafana/dashboards.py", "--check")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in DASHBOARDS] == [
        "cxpulse-agents.json",
        "cxpulse-operations.json",
        "cxpulse-overview.json",
        "cxpulse-queue.json",
        "cxpulse-wallboard.json",
    ]


def dashboard_queries() -> list[str]:
    queries = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            queries += [t["expr"] for t in panel.get("targets", []) if "expr" in t]  # not /agents
        variables = board.get("templating", {}).get("list", [])
        queries += [v["query"] for v in variables if v["type"] == "query"]  # custom ones list values
    return queries


def test_the_service_level_thresholds_are_the_call_wait_bounds() -> None:
    """The queue dashboard's thresholds are the bounds of the histogram the ratio reads."""
    board = json.loads((ROOT / "deploy/grafana/dashboards/cxpulse-queue.json").read_text())
    (picker,) = [v for v in board["templating"]["list"] if v["name"] == "sl_thresholds"]
    assert [float(b) for b in picker["query"].split(",")] == list(CALL_WAIT_BUCKETS)
    assert picker["current"]["value"] == ["10.0", "20.0", "30.0", "60.0"]


def exported_names() -> set[str]:
    """Every sample name a worker exports once each kind of KPI has data."""
    table: dict = {}
    agg = new_aggregate("billing", "email", 0)
    facts = [
        [
            NOW,
            {"tickets_created": 1},
            {"first_response_seconds": 5.0},
            {"levels": [["tickets_open", NOW, 1]], "agent": "a"},
        ],
        [NOW, {"tickets_resolved": 1, "csat_responses": 1, "nps_responses": 1, "contacts": 1}, {}, {}],
        [
            NOW,
            {
                priority_key("ticket_first_responses", "urgent"): 1,
                priority_key("first_response_sla_breaches", "urgent"): 0,
            },
            {},
            {},
        ],
    ]
    apply_facts(agg, facts, "tickets:0", 1, 60, 120, table)
    calls = new_aggregate("billing", "phone", 0)
    facts = [
        [
            NOW,
            {"calls_offered": 1, "calls_answered": 1},
            {"call_wait_seconds": 3.0},
            {"levels": [["agents:busy", NOW, 1], ["calls_waiting", NOW, 1]]},
        ],
        [NOW, {"calls_handled": 1}, {"call_handle_seconds": 60.0, "ces_score": 2.0}, {}],
        [
            NOW,
            {"agent_busy_seconds": 60.0, "agent_available_seconds": 30.0},
            {"after_call_work_seconds": 9.0},
            {},
        ],
    ]
    # A call a week ago, kept in the arrival history: the forecast has a week to go by.
    facts.insert(0, [NOW - 7 * 86400, {"calls_offered": 1}, {}, {}])
    apply_facts(calls, facts, "calls:0", 1, 60, 120, table, history_days=29)
    base = new_customer_base(1)
    apply_facts(base, [[NOW, {"customers_joined": 1}, {}, {}]], "customers:0", 1, 60, 120, table)
    metrics = WorkerMetrics()
    values = [agg, calls, base, *table.values()]
    metrics.add_kpis(KpiCollector(lambda: values, 60, Policy(customer_base=5), lambda: NOW))
    metrics.count_event("tickets", "ticket.created")
    metrics.invalid.labels("tickets", "malformed_json").inc()
    metrics.duplicates.labels("tickets").inc()
    text = generate_latest(metrics.registry).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def recorded_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def referenced_names(expr: str) -> set[str]:
    names = set(
        re.findall(r"\b(?:cxpulse_[a-z0-9_]+|[a-z_]+:cxpulse[a-z0-9_:]*|cxpulse:[a-z0-9_:]+)\b", expr)
    )
    names |= {n for n in EXTERNAL if re.search(rf"\b{n}\b", expr)}
    return names


def test_rules_and_dashboards_use_only_names_cxpulse_exports():
    known = exported_names() | recorded_names() | EXTERNAL
    rule_exprs = [r["expr"] for r in rules()]
    used = set().union(*(referenced_names(e) for e in rule_exprs + dashboard_queries()))
    assert used - known == set()
    # Each KPI family of the catalogue shows on a dashboard or feeds a rule the dashboards use.
    assert {"cxpulse_tickets_escalated_total", "cxpulse_calls_abandoned_total"} <= used
    assert len(used & exported_names()) >= 40


def test_compose_matches_the_settings_cxpulse_reads():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {
        "kafka",
        "worker-1",
        "worker-2",
        "simulator",
        "prometheus",
        "alertmanager",
        "alert-log",
        "grafana",
        "kafka-exporter",
    } <= set(services)
    fields = {name.upper() for name in Settings.model_fields}
    for name in ("worker-1", "worker-2", "simulator"):
        service = services[name]
        assert service["build"] == "."
        env = service["environment"]
        assert {k.removeprefix("CXPULSE_") for k in env} <= fields, env
        Settings(**{k.removeprefix("CXPULSE_").lower(): v for k, v in env.items()})  # values parse
        assert env["CXPULSE_BROKER"] == "kafka://kafka:9092"
        # The image's user cannot write the root filesystem: state and scratch go to the tmpfs.
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"], name
        assert env["CXPULSE_DATA_DIR"].startswith("/tmp/"), name
    for name in ("worker-1", "worker-2"):
        port = services[name]["environment"]["CXPULSE_WEB_PORT"]
        assert services[name]["ports"][0].endswith(f":{port}")
    assert (
        services["worker-1"]["environment"]["CXPULSE_APP_ID"]
        == services["worker-2"]["environment"]["CXPULSE_APP_ID"]
    )
    # Prometheus scrapes both workers on their metrics port and loads the shipped rules.
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = [
        t
        for job in prom["scrape_configs"]
        if job["job_name"] == "cxpulse"
        for t in job["static_configs"][0]["targets"]
    ]
    assert targets == ["worker-1:6066", "worker-2:6066"]
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    # Every file or folder a service mounts is in the repo; every image is pinned.
    for service in services.values():
        for volume in service.get("volumes", []):
            local = volume.split(":")[0]
            assert (ROOT / local).exists(), local
        assert "image" in service or service.get("build") == "."
        if "image" in service:
            assert ":" in service["image"] and not service["image"].endswith(":latest")
    assert (ROOT / "Dockerfile").exists()
    assert "ENTRYPOINT" in (ROOT / "Dockerfile").read_text()
    uids = {
        d["uid"]
        for path in sorted((ROOT / "deploy/grafana/provisioning/datasources").glob("*.yml"))
        for d in yaml.safe_load(path.read_text())["datasources"]
    }
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            if "datasource" in panel:
                assert panel["datasource"]["uid"] in uids


def test_the_agents_table_shows_fields_agents_serves() -> None:
    """The Grafana agents table reads /agents through the provisioned Infinity data source, and
    every column it selects is a field of /agents' rows."""
    from metrics.export.agents_view import AgentRow

    board = json.loads((ROOT / "deploy/grafana/dashboards/cxpulse-agents.json").read_text())
    (panel,) = board["panels"]
    (target,) = panel["targets"]
    row = AgentRow("a", None, "busy", 0.0, [], "phone", 0, 0.0, 0, 0, False, None)
    served = set(row.document(60.0))
    assert {c["selector"] for c in target["columns"]} <= served
    assert (target["url"], target["root_selector"], panel["repeat"]) == (
        "${scheme}://${worker}/agents",
        "agents",
        "worker",
    )
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/cxpulse-agents.yml").read_text())
    (provisioned,) = source["datasources"]
    assert (provisioned["uid"], provisioned["type"]) == (
        target["datasource"]["uid"],
        target["datasource"]["type"],
    )
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert provisioned["type"] in compose["services"]["grafana"]["environment"]["GF_INSTALL_PLUGINS"]
    workers = {s for s in compose["services"] if s.startswith("worker")}
    assert provisioned["jsonData"]["allowedHosts"] == [f"http://{w}:6066" for w in sorted(workers)]
