"""The ``cxpulse`` command: worker, traffic simulator, all-in-one demo, replay, settings and schema files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

import metrics.contract
from streams.cli.common import load_settings, prepare_topics, settings_options
from streams.cli.demo import demo
from streams.cli.ingest_command import ingest
from streams.cli.plan_command import plan
from streams.cli.replay_command import replay
from streams.cli.report_command import report
from streams.cli.simulate_command import simulate
from streams.cli.top import top
from streams.settings import ROLES, Settings

SCHEMA_DIR = Path(metrics.contract.__file__).resolve().parent / "schemas"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """cxpulse: live contact-centre KPIs from Kafka events, served to Prometheus.

    \b
    Quick start on one machine (no Docker, no Java):
      cxpulse demo
    Every option can also be set as a CXPULSE_* environment variable.
    """


@main.command()
@settings_options
@click.option("--web-port", type=int, help="Port serving /metrics [CXPULSE_WEB_PORT].")
@click.option("--loglevel", help="Log level: debug, info, warning [CXPULSE_LOG_LEVEL].")
def worker(web_port: int | None, loglevel: str | None, **options: Any) -> None:
    """Run a stream worker: consume events, keep KPI state, serve /metrics.

    Start several with the same --app-id to share the partitions between them.
    """
    import faust

    from streams.live.app import build_app

    settings = load_settings(web_port=web_port, log_level=loglevel, **options)
    from streams.cli.processes import port_in_use

    if port_in_use(settings.web_port, settings.web_host):
        raise click.ClickException(
            f"port {settings.web_port} on {settings.web_host} is already in use (another worker?); stop "
            "what holds it, or set CXPULSE_WEB_PORT (or --web-port) to a free port"
        )
    from streams.cli.gc_tuning import tune_gc

    tune_gc()
    from streams.web_config import WebConfigError

    try:
        pipeline = build_app(settings)
    except WebConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    prepare_topics(settings, pipeline.topic_specs())
    scheme = "https" if settings.web_config_file else "http"
    click.echo(
        f"cxpulse worker {settings.app_id}: metrics at {scheme}://127.0.0.1:{settings.web_port}/metrics",
        err=True,
    )
    runner = faust.Worker(pipeline.app, loglevel=settings.log_level)
    # Faust's terminal spinner turns the root logger to DEBUG so that every log call moves it:
    # that builds a log record for each record produced, a tenth of the worker's time.
    runner.spinner = None
    pipeline.watch_startup()
    runner.execute_from_commandline()


def _shown(value: Any) -> str:
    """A setting's value as it would be written in its environment variable; secrets masked."""
    from pydantic import SecretStr

    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return "********"
    if isinstance(value, bool):
        return str(value).lower()
    from streams.cluster.access import without_passwords

    if isinstance(value, dict):
        return without_passwords(json.dumps(value))
    return without_passwords(str(value))


def _default(info: Any) -> Any:
    return None if info.is_required() else info.get_default(call_default_factory=True)


def _settings_reference() -> str:
    """The Markdown table of every setting: docs/configuration.md holds exactly this."""
    parts = []
    for role in ROLES:
        rows = [f"### {role.title}", "", "| variable | default | what it does |", "|---|---|---|"]
        for name, info in role.model_fields.items():
            default = _shown(_default(info))
            shown = f"`{default}`" if default else ""
            rows.append(f"| `CXPULSE_{name.upper()}` | {shown} | {info.description} |")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


@main.command("config")
@settings_options
@click.option(
    "--reference", is_flag=True, help="Print the Markdown table of every setting instead (for the docs)."
)
def config_command(reference: bool, **options: Any) -> None:
    """Print the effective settings of this environment, secrets masked.

    Reads CXPULSE_* variables and the options given, as every other command does, and
    stops with what is wrong if a value is invalid. Lines marked * differ from the default.
    """
    if reference:
        click.echo(_settings_reference(), nl=False)
        return
    settings = load_settings(**options)
    click.echo("# cxpulse settings in effect (* = not the default; secrets masked)")
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        mark = "*" if name in settings.model_fields_set and value != _default(info) else " "
        click.echo(f"{mark} CXPULSE_{name.upper()}={_shown(value)}")


@main.command()
@click.option(
    "--check", is_flag=True, help="Fail if the files differ from the event models, instead of writing."
)
def schemas(check: bool) -> None:
    """Write the JSON Schema files of the event contract (metrics/contract/schemas/*.json)."""
    from metrics.contract.events import FAMILIES

    SCHEMA_DIR.mkdir(exist_ok=True)
    stale = []
    for family in FAMILIES.values():
        path = SCHEMA_DIR / f"{family.name}.schema.json"
        text = json.dumps(family.json_schema(), indent=2, sort_keys=True) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            click.echo(f"wrote {path}")
    if stale:
        raise click.ClickException(f"out of date: {', '.join(stale)}; run `cxpulse schemas`")


main.add_command(simulate)
main.add_command(demo)
main.add_command(replay)
main.add_command(ingest)
main.add_command(top)
main.add_command(plan)
main.add_command(report)

if __name__ == "__main__":
    main()
