"""`cxpulse config` and docs/configuration.md: every setting documented, secrets never printed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers import ROOT

from streams.cli.main import main
from streams.settings import Settings

DOC = ROOT / "docs" / "configuration.md"


def test_the_reference_in_the_docs_is_the_generated_one():
    text = DOC.read_text()
    documented = text.split("<!-- settings:start -->\n", 1)[1].split("<!-- settings:end -->", 1)[0]
    generated = CliRunner().invoke(main, ["config", "--reference"]).output
    assert documented == generated, "docs/configuration.md is stale: paste `cxpulse config --reference`"
    for name in Settings.model_fields:
        assert f"`CXPULSE_{name.upper()}`" in generated


def test_config_prints_the_effective_settings_with_secrets_masked(monkeypatch):
    monkeypatch.setenv("CXPULSE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CXPULSE_KAFKA_SASL_USERNAME", "api-key")
    monkeypatch.setenv("CXPULSE_KAFKA_SASL_PASSWORD", "very-secret-value")
    result = CliRunner().invoke(main, ["config", "--partitions", "8"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "very-secret-value" not in result.output
    assert "* CXPULSE_KAFKA_SASL_PASSWORD=********" in lines
    assert "* CXPULSE_KAFKA_SASL_USERNAME=api-key" in lines
    assert "* CXPULSE_PARTITIONS=8" in lines
    assert "  CXPULSE_APP_ID=cxpulse" in lines
    assert len(lines) == 1 + len(Settings.model_fields)


@pytest.mark.parametrize(
    ("broker", "shown"),
    [
        ("kafka://user:hunter2@kafka-1:9092", "kafka://user:********@kafka-1:9092"),
        ("kafka://u:p%40ss@a:9092;kafka://v:w@b:9092", "kafka://u:********@a:9092;kafka://v:********@b:9092"),
        ("kafka://kafka-1:9092", "kafka://kafka-1:9092"),
        ("kafka://user@kafka-1:9092", "kafka://user@kafka-1:9092"),
    ],
)
def test_config_masks_a_password_written_into_the_broker_url(monkeypatch, broker, shown):
    monkeypatch.setenv("CXPULSE_BROKER", broker)
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    assert f"* CXPULSE_BROKER={shown}" in result.output.splitlines()
    assert "hunter2" not in result.output and "p%40ss" not in result.output


def test_config_stops_on_a_setting_that_cannot_work(monkeypatch):
    monkeypatch.setenv("CXPULSE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 1
    assert "CXPULSE_KAFKA_SASL_USERNAME and CXPULSE_KAFKA_SASL_PASSWORD" in result.output


def test_the_dead_letter_topic_is_scoped_by_app_id_unless_named(monkeypatch):
    assert Settings().deadletter_topic == "cxpulse-deadletter"
    assert Settings(app_id="emea").deadletter_topic == "emea-deadletter"
    assert Settings(app_id="emea", deadletter_topic="shared-dlq").deadletter_topic == "shared-dlq"
    monkeypatch.setenv("CXPULSE_APP_ID", "emea")
    result = CliRunner().invoke(main, ["config"])
    assert "  CXPULSE_DEADLETTER_TOPIC=emea-deadletter" in result.output.splitlines()
