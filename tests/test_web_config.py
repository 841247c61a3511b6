"""/metrics behind TLS and basic auth, configured as Prometheus exporters are, scraped by Prometheus."""

from __future__ import annotations

import base64
import http.client
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import orjson
import pytest
import yaml
from helpers import http_get, wait_for
from prometheus_server import PrometheusServer
from tls import make_server_tls

from streams.web_config import WebConfigError, load

PASSWORD = "scrape-password"


def hashed(password: str, prefix: str = "$2b$") -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", prefix)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def write_config(folder: Path) -> Path:
    """A web-config file with relative paths, as an operator would keep it next to its certificate."""
    tls = make_server_tls(folder)
    config = {
        "tls_server_config": {"cert_file": tls.cert_file.name, "key_file": tls.key_file.name},
        "basic_auth_users": {"prometheus": hashed(PASSWORD, "$2y$")},
    }
    path = folder / "web-config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_users_need_their_own_password(tmp_path):
    config = load(write_config(tmp_path))
    assert config.ssl_context is not None
    assert config.allows(basic("prometheus", PASSWORD))
    assert config.allows(basic("prometheus", PASSWORD))  # the second time from the cache
    assert not config.allows(basic("prometheus", "guess"))
    assert not config.allows(basic("someone", PASSWORD))
    assert not config.allows(None)
    assert not config.allows("Basic !!!not-base64")
    assert not config.allows("Bearer abc")


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"basic_auth_users": {"p": "$2b$04$abc"}}, "clear text"),
        ({"tls_server_config": {"cert_file": "x.crt"}}, "needs cert_file and key_file"),
        ({"basic_auth_users": {"p": "plain-password"}}, "not a bcrypt hash"),
        ({"tls_config": {}}, "unknown keys"),
        (
            {"tls_server_config": {"cert_file": "missing.crt", "key_file": "missing.key"}},
            "cert_file/key_file",
        ),
    ],
)
def test_a_file_that_cannot_work_is_refused_naming_the_key(tmp_path, doc, says):
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(WebConfigError, match=says):
        load(path)


@pytest.mark.kafka
def test_prometheus_scrapes_a_worker_over_tls_with_basic_auth_and_fails_without_it(stack, tmp_path):
    config_path = write_config(tmp_path / "web")
    ca_file = tmp_path / "web" / "ca.pem"
    stack.extra_env["CXPULSE_WEB_CONFIG_FILE"] = str(config_path)
    worker = stack.worker()
    trusted = ssl.create_default_context(cafile=str(ca_file))
    base = f"https://127.0.0.1:{worker.port}"
    wait_for(lambda: http_get(f"{base}/ready", trusted)[0] == 200, 90, what="the worker to be ready")

    assert http_get(f"{base}/metrics", trusted)[0] == 401
    assert http_get(f"{base}/metrics", trusted, basic("prometheus", "guess"))[0] == 401
    status, body = http_get(f"{base}/metrics", trusted, basic("prometheus", PASSWORD))
    assert status == 200 and "cxpulse_worker_ready 1.0" in body
    # Agents one by one: behind the same password as /metrics.
    assert http_get(f"{base}/agents", trusted)[0] == 401
    status, body = http_get(f"{base}/agents", trusted, basic("prometheus", PASSWORD))
    assert status == 200 and orjson.loads(body)["agents"] == [], body
    assert http_get(f"{base}/live", trusted) == (200, "live\n")  # probes need no password
    with pytest.raises((OSError, http.client.HTTPException)):  # plain HTTP gets no answer
        urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5)

    target = {"static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}], "scheme": "https"}
    tls_config = {"ca_file": str(ca_file)}
    jobs = [
        {"job_name": "cxpulse", **target, "tls_config": tls_config,
         "basic_auth": {"username": "prometheus", "password": PASSWORD}},
        {"job_name": "no-password", **target, "tls_config": tls_config},
        {"job_name": "wrong-password", **target, "tls_config": tls_config,
         "basic_auth": {"username": "prometheus", "password": "guess"}},
    ]  # fmt: skip
    prometheus = PrometheusServer(tmp_path, [], scrape_configs=jobs).start()
    try:

        def up() -> dict[str, float] | None:
            result = prometheus.query("up")["data"]["result"]
            by_job = {r["metric"]["job"]: float(r["value"][1]) for r in result}
            return by_job if len(by_job) == 3 else None

        assert wait_for(up, 30, what="three scrapes") == {"cxpulse": 1, "no-password": 0, "wrong-password": 0}
        ready = prometheus.query('cxpulse_worker_ready{job="cxpulse"}')["data"]["result"]
        assert [float(r["value"][1]) for r in ready] == [1]
    finally:
        prometheus.stop()
