"""A real Prometheus for the tests (Debian's prometheus package), scraping workers every second.

It loads the shipped rules with every group evaluated each second instead of every 30 s, so a
test sees recording rules and alert states within seconds; the expressions are the shipped ones.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from kafka_server import free_port

RULES = sorted((Path(__file__).resolve().parent.parent / "deploy/prometheus/rules").glob("*.yml"))


class PrometheusServer:
    def __init__(
        self,
        workdir: Path,
        targets: list[str],
        scrape_configs: list[dict] | None = None,
        data: Path | None = None,
    ) -> None:
        """``data``: a data folder to serve (backfilled blocks, kept however old); default a new one."""
        self.workdir = workdir
        self.data = data or workdir / "data"
        self.port = free_port()
        groups = [group for path in RULES for group in yaml.safe_load(path.read_text())["groups"]]
        for group in groups:
            group["interval"] = "1s"
        (workdir / "rules.yml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(workdir / "rules.yml")],
            "scrape_configs": scrape_configs
            or [{"job_name": "cxpulse", "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> PrometheusServer:
        log = open(self.workdir / "prometheus.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.data}",
                "--storage.tsdb.retention.time=3650d",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1)
                return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"Prometheus not ready; see {self.workdir / 'prometheus.log'}")

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            body = urllib.request.urlopen(url, timeout=10).read()
        except urllib.error.HTTPError as exc:  # a bad query answers 400 with the reason
            body = exc.read()
        return json.loads(body)

    def query(self, expr: str) -> dict:
        return self.api("query", query=expr)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
