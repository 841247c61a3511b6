"""`cxpulse config` and docs/configuration.md: every setting documented, secrets never printed."""

from __future__ import annotations

from click.testing import CliRunner
from helpers import ROOT

from streams.settings import Settings
from streams.tools.cli import main

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


def test_config_stops_on_a_setting_that_cannot_work(monkeypatch):
    monkeypatch.setenv("CXPULSE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 1
    assert "CXPULSE_KAFKA_SASL_USERNAME and CXPULSE_KAFKA_SASL_PASSWORD" in result.output
