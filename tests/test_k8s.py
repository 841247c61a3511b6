"""deploy/k8s renders with kustomize, every object is valid, and it matches what cxpulse serves and reads."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys

import jsonschema
import pytest
import yaml
from helpers import ROOT

from streams.settings import Settings

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"  # the newest schemas kubernetes-validate ships

# The parts of the Prometheus Operator's CRDs cxpulse uses (monitoring.coreos.com/v1); the
# operator's schemas are not on the machine, so these check what a typo would break.
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": {"type": "object", "required": ["matchLabels"]},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                        },
                    },
                },
            },
        },
    },
}
RULE = {
    "type": "object",
    "required": ["expr"],
    "additionalProperties": False,
    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
    "properties": {
        "record": {"type": "string"},
        "alert": {"type": "string"},
        "expr": {"type": "string"},
        "for": {"type": "string"},
        "labels": {"type": "object"},
        "annotations": {"type": "object"},
    },
}
PROMETHEUS_RULE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "spec": {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "interval": {"type": "string"},
                            "rules": {"type": "array", "items": RULE},
                        },
                    },
                }
            },
        },
    },
}


def render(folder: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "the Kubernetes tests need kubectl (with kustomize) on PATH"
    out = subprocess.run([kubectl, "kustomize", str(K8S / folder)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=["base", "overlays/example"])
def objects(request) -> dict[str, list[dict]]:
    by_kind: dict[str, list[dict]] = {}
    for doc in render(request.param):
        by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


def one(objects: dict[str, list[dict]], kind: str, name: str | None = None) -> dict:
    found = [o for o in objects[kind] if name is None or o["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"{kind} {name}: {[o['metadata']['name'] for o in found]}"
    return found[0]


def test_every_object_is_valid(objects):
    import kubernetes_validate

    crds = {"ServiceMonitor": SERVICE_MONITOR, "PrometheusRule": PROMETHEUS_RULE}
    for kind, docs in objects.items():
        for doc in docs:
            if kind in crds:
                jsonschema.validate(doc, crds[kind])
            else:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert set(objects) == {
        "ServiceAccount", "ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget",
        "ServiceMonitor", "PrometheusRule",
    } | ({"Secret"} if "Secret" in objects else set())  # fmt: skip


def container(objects) -> dict:
    return one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]


def settings_from(objects) -> dict[str, str]:
    """The CXPULSE_* variables a worker pod gets from its ConfigMap and Secret."""
    env = dict(one(objects, "ConfigMap", "cxpulse-settings")["data"])
    for secret in objects.get("Secret", []):
        env.update(secret.get("stringData", {}))
        for key, value in secret.get("data", {}).items():
            env[key] = base64.b64decode(value).decode()
    return env


def test_probes_and_ports_are_what_the_worker_serves(objects):
    from streams.live.app import build_app

    env = settings_from(objects)
    settings = Settings(**{k[len("CXPULSE_") :].lower(): v for k, v in env.items()})
    served = set(build_app(settings).app.web.views)
    c = container(objects)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": settings.web_port}
    assert settings.web_host == "0.0.0.0"  # reachable from the kubelet and Prometheus
    for probe, path in (("livenessProbe", "/live"), ("readinessProbe", "/ready")):
        assert c[probe]["httpGet"] == {"path": path, "port": "metrics"}
        assert path in served
    service = one(objects, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    monitor = one(objects, "ServiceMonitor")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics" and "/metrics" in served
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # The alerting rules look for up{job="cxpulse"}: the job label comes from the Service's label.
    assert labels[monitor["spec"]["jobLabel"]] == "cxpulse"
    pod_labels = one(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    budget = one(objects, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_every_variable_is_a_setting_cxpulse_reads(objects):
    known = {f"CXPULSE_{name.upper()}" for name in Settings.model_fields}
    named = set(settings_from(objects)) | {e["name"] for e in container(objects)["env"]}
    assert {n for n in named if n.startswith("CXPULSE_")} <= known
    env = {e["name"]: e for e in container(objects)["env"]}
    assert env["CXPULSE_GROUP_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    refs = [next(iter(source)) for source in container(objects)["envFrom"]]
    assert refs == ["configMapRef", "secretRef"]


def test_state_has_a_volume_and_the_pod_runs_unprivileged(objects):
    sts = one(objects, "StatefulSet")
    spec = sts["spec"]["template"]["spec"]
    settings = settings_from(objects)
    assert settings["CXPULSE_STORE"] == "rocksdb://"
    mounts = {m["name"]: m["mountPath"] for m in container(objects)["volumeMounts"]}
    assert mounts["data"] == settings["CXPULSE_DATA_DIR"]
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["data"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container(objects)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    resources = container(objects)["resources"]
    assert set(resources) == {"requests", "limits"}


def test_rules_and_dashboards_come_from_their_one_source(objects):
    rules = [
        group
        for path in sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
    ]
    assert one(objects, "PrometheusRule")["spec"]["groups"] == rules
    boards = {p.name: json.loads(p.read_text()) for p in (ROOT / "deploy/grafana/dashboards").glob("*.json")}
    shipped = {}
    for cm in objects["ConfigMap"]:
        if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            shipped.update({name: json.loads(text) for name, text in cm["data"].items()})
    assert shipped == boards
    check = subprocess.run(
        [sys.executable, str(K8S / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_the_example_overlay_gives_a_worker_settings_that_work():
    objects: dict[str, list[dict]] = {}
    for doc in render("overlays/example"):
        objects.setdefault(doc["kind"], []).append(doc)
    env = settings_from(objects)
    settings = Settings(**{k[len("CXPULSE_") :].lower(): v for k, v in env.items()})
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.replication_factor == 3
    assert one(objects, "StatefulSet")["spec"]["replicas"] == 3
    assert {o["metadata"]["namespace"] for docs in objects.values() for o in docs} == {"contact-centre"}
