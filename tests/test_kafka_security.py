"""cxpulse on a secured Kafka listener (SASL_SSL + SCRAM-SHA-512, a certificate made for the session)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, environment_without_settings, produce
from kafka_server import free_port
from test_live_kpis import CATALOGUE_ENV, RULES, assert_exact, catalogue_extras, scenario

from streams.cluster.access import KafkaAccess
from streams.settings import Settings

pytestmark = pytest.mark.kafka


def test_the_worker_authenticates_and_computes_exact_kpis(stack, kafka):
    stack.extra_env.update({**CATALOGUE_ENV, **kafka.sasl_env()})
    now = time.time()
    tickets, calls = scenario(now)
    first, second = catalogue_extras(now)
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    events = tickets + calls + first + second
    produce(kafka.bootstrap, stack.records(events))  # a source system on the plaintext listener
    assert_exact(worker, events, RULES)


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env={**environment_without_settings(), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"CXPULSE_KAFKA_SASL_PASSWORD": "not-the-password"}, "CXPULSE_KAFKA_SASL_PASSWORD"),
        ({"CXPULSE_KAFKA_SSL_CAFILE": ""}, "CXPULSE_KAFKA_SSL_CAFILE"),
    ],
    ids=["wrong-password", "untrusted-certificate"],
)
def test_a_refused_connection_fails_within_seconds_naming_the_setting(stack, kafka, change, names):
    env = {**stack.env(free_port()), **kafka.sasl_env(), **change}
    if not env["CXPULSE_KAFKA_SSL_CAFILE"]:
        del env["CXPULSE_KAFKA_SSL_CAFILE"]  # the system's CAs do not know the session's CA
    started = time.monotonic()
    result = run_cli(["worker"], env)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and names in last, result.stderr[-3000:]
    assert took < 20, f"took {took:.1f} s"


def test_simulate_and_replay_read_and_write_through_the_secured_listener(stack, kafka, tmp_path: Path):
    env = {**stack.env(free_port()), **kafka.sasl_env()}
    from streams.cluster.topics import TopicSpec, ensure_topics

    settings = Settings(**{k[len("CXPULSE_") :].lower(): v for k, v in env.items()})
    ensure_topics(settings.kafka(), [TopicSpec(t, stack.partitions, 1) for t in stack.topics.values()])
    sent = run_cli(["simulate", "--duration", "3", "--rate", "20"], env)
    assert sent.returncode == 0, sent.stderr[-2000:]
    count = int(sent.stderr.strip().splitlines()[-1].split()[1])  # "sent N events"
    assert count > 0
    out = tmp_path / "replay.om"
    replayed = run_cli(["replay", "--kafka", "--quiet", "--out", str(out)], env)
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert f"{count} records in" in replayed.stderr, replayed.stderr[-2000:]


def test_faust_gets_sasl_over_tls_not_sasl_plaintext(kafka):
    """Faust's SASLCredentials stay SASL_PLAINTEXT without an SSL context: what does aiokafka get?"""
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    access = KafkaAccess(
        kafka.sasl_url, "SASL_SSL", "SCRAM-SHA-512", "u", "p", ssl_cafile=str(kafka.tls.ca_file)
    )
    auth = credentials_to_aiokafka_auth(access.faust_credentials())
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("u", "p")
    assert auth["ssl_context"].verify_mode.name == "CERT_REQUIRED"
    tls_only = credentials_to_aiokafka_auth(KafkaAccess(kafka.sasl_url, "SSL").faust_credentials())
    assert tls_only["security_protocol"] == "SSL"
    assert KafkaAccess(kafka.url).faust_credentials() is None


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "CXPULSE_KAFKA_SASL_USERNAME"),
        ({"kafka_sasl_mechanism": "OAUTHBEARER", "kafka_security_protocol": "SASL_SSL"},
         "CXPULSE_KAFKA_OAUTH_PROVIDER"),
        ({"kafka_oauth_provider": "aws-msk-iam"}, "CXPULSE_KAFKA_AWS_REGION"),
        ({"kafka_ssl_cafile": "/ca.pem"}, "CXPULSE_KAFKA_SECURITY_PROTOCOL"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "/c.pem"}, "CXPULSE_KAFKA_SSL_KEYFILE"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nowhere/ca.pem"},
         "CXPULSE_KAFKA_SSL_CAFILE=/nowhere/ca.pem: no such file"),
    ],
)  # fmt: skip
def test_settings_that_cannot_work_are_refused_with_the_setting_to_change(settings, names):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=names):
        Settings(**settings)


def test_a_connection_closed_during_sasl_authentication_is_read_as_refused_credentials():
    """Kafka delays closing a connection that failed authentication; when the close wins over the
    error response, kafka-python sees only a disconnect after its SaslAuthenticate request."""
    import logging

    from kafka.errors import KafkaConnectionError
    from kafka.protocol.metadata import MetadataRequest
    from kafka.protocol.sasl import SaslAuthenticateRequest

    from streams.cluster.connection_log import connection_errors

    log = logging.getLogger("kafka.net.connection")
    authenticating, fetching = object(), object()
    with connection_errors() as causes:
        log.debug("%s Request %d: %s", authenticating, 3, SaslAuthenticateRequest(auth_bytes=b"n,,n=u"))
        log.debug("%s Request %d: %s", fetching, 7, MetadataRequest(topics=[]))
        log.error("%s: Connection lost: %s", fetching, KafkaConnectionError("socket disconnected"))
        log.error("%s: Connection lost: %s", authenticating, KafkaConnectionError("socket disconnected"))
    assert causes == [
        "KafkaConnectionError: socket disconnected",
        "SASL authentication failed: the broker closed the connection without answering "
        "SaslAuthenticateRequest (KafkaConnectionError: socket disconnected)",
        "KafkaConnectionError: socket disconnected",
    ]
    assert log.level == logging.NOTSET and not log.filters
    access = KafkaAccess("kafka://b:9093", "SASL_SSL", "SCRAM-SHA-512", "u", "p")
    assert "CXPULSE_KAFKA_SASL_PASSWORD" in access.explain(TimeoutError("Unable to bootstrap"), causes)
