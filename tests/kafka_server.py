"""A real single-node Apache Kafka (KRaft) for the test suite, run from the official jars.

The jars are resolved once with Maven (``tests/kafka/pom.xml``) into a cache folder; each
test session formats a fresh log directory and starts ``kafka.Kafka`` on free loopback
ports. ``stop()`` and ``start()`` can be called again to simulate a broker outage: the
node comes back on the same ports with the same data.

Besides its plaintext listener the node serves SASL_SSL with SCRAM-SHA-512, as managed
clusters do: a certificate signed by a CA made for the session, and one SCRAM user added
when the log directory is formatted.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tls import make_server_tls

from streams.cli.processes import free_port, free_ports

__all__ = ["KafkaServer", "free_port", "free_ports"]

POM = Path(__file__).parent / "kafka" / "pom.xml"
CACHE = Path(os.environ.get("CXPULSE_KAFKA_CACHE", Path.home() / ".cache" / "cxpulse" / "kafka-3.9.1"))


def resolve_jars() -> Path:
    """Download Kafka and its runtime dependencies once; return the folder holding the jars."""
    libs = CACHE / "libs"
    done = CACHE / ".resolved"
    if done.exists():
        return libs
    libs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
        ],
        check=True,
    )  # fmt: skip
    done.touch()
    return libs


class KafkaServer:
    def __init__(self, workdir: Path | None = None) -> None:
        self.libs = resolve_jars()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="cxpulse-kafka-"))
        self.port, self.controller_port, self.sasl_port = free_ports(3)
        self.tls = make_server_tls(self.workdir / "tls")
        self.process: subprocess.Popen[bytes] | None = None
        self._configure()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    SCRAM_USER = "cxpulse"
    SCRAM_PASSWORD = "scram-secret-for-tests"

    @property
    def sasl_url(self) -> str:
        """The SASL_SSL + SCRAM-SHA-512 listener."""
        return f"kafka://127.0.0.1:{self.sasl_port}"

    def sasl_env(self, password: str | None = None) -> dict[str, str]:
        """The CXPULSE_* settings a client needs for the SASL_SSL listener."""
        return {
            "CXPULSE_BROKER": self.sasl_url,
            "CXPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CXPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CXPULSE_KAFKA_SASL_USERNAME": self.SCRAM_USER,
            "CXPULSE_KAFKA_SASL_PASSWORD": self.SCRAM_PASSWORD if password is None else password,
            "CXPULSE_KAFKA_SSL_CAFILE": str(self.tls.ca_file),
        }

    def _java(self, *args: str) -> list[str]:
        return [
            "java", "-Xms256m", "-Xmx768m", "-XX:+UseG1GC",
            f"-Dlog4j.configuration=file:{self.workdir / 'log4j.properties'}",
            "-cp", f"{self.libs}/*", *args,
        ]  # fmt: skip

    def _configure(self) -> None:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port},"
                f"SASL_SSL://127.0.0.1:{self.sasl_port}"
            ),
            "advertised.listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},SASL_SSL://127.0.0.1:{self.sasl_port}"
            ),
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(self.tls.keystore),
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "4",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.segment.bytes": str(64 * 1024 * 1024),
            # Each new segment's offset and time indexes are files of this size, sparse and
            # memory-mapped: the first entry faults in the file's pages, and with a disk read-ahead
            # of 8 MB (the CI machines') the kernel zeroes 8 MB of each of the two. The default
            # 10 MB made the first events of a run with a dozen new topics cost the broker
            # 1.5-2.5 s of system time; a 64 MB segment needs at most 192 KB of index.
            "log.index.size.max.bytes": str(1024 * 1024),
        }
        (self.workdir / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.workdir / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, file\n"
            "log4j.appender.file=org.apache.log4j.FileAppender\n"
            f"log4j.appender.file.File={self.workdir / 'server.log'}\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        )
        cluster_id = "-"
        while cluster_id.startswith("-"):  # an id starting with '-' would be read as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        subprocess.run(
            self._java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id,
                "-c", str(self.workdir / "server.properties"),
                "--add-scram", f"SCRAM-SHA-512=[name={self.SCRAM_USER},password={self.SCRAM_PASSWORD}]",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    def start(self, timeout: float = 60) -> KafkaServer:
        out = open(self.workdir / "stdout.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(self.workdir / "server.properties")),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        from kafka import KafkaAdminClient

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"Kafka exited with {self.process.returncode}; see {self.workdir}/stdout.log"
                )
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
                admin.list_topics()
                admin.close()
                return
            except Exception as exc:  # broker still starting
                last_error = exc
                time.sleep(0.3)
        raise TimeoutError(f"Kafka not ready after {timeout} s: {last_error}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
