"""The ``cxpulse`` command: worker, traffic simulator, all-in-one demo, and schema files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import click

from streams.settings import Settings

SCHEMA_DIR = Path(__file__).parent / "schemas"
# The demo centre has been open ten minutes when it starts: the windows have data at once.
DEMO_HISTORY = 600.0

_SETTING_OPTIONS = [
    click.option("--broker", help="Kafka bootstrap servers, e.g. kafka://127.0.0.1:9092 [CXPULSE_BROKER]."),
    click.option("--app-id", help="Consumer group id and internal topic prefix [CXPULSE_APP_ID]."),
    click.option(
        "--partitions", type=int, help="Partitions of source and internal topics [CXPULSE_PARTITIONS]."
    ),
    click.option("--tickets-topic", help="Ticket events topic [CXPULSE_TICKETS_TOPIC]."),
    click.option("--calls-topic", help="Call events topic [CXPULSE_CALLS_TOPIC]."),
    click.option("--surveys-topic", help="Survey answers topic [CXPULSE_SURVEYS_TOPIC]."),
    click.option("--customers-topic", help="Customer lifecycle topic [CXPULSE_CUSTOMERS_TOPIC]."),
]


def _settings_options(func: Any) -> Any:
    for option in reversed(_SETTING_OPTIONS):
        func = option(func)
    return func


def _settings(**overrides: Any) -> Settings:
    """Environment first, command-line options on top; a bad value stops with what is wrong."""
    from pydantic import ValidationError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"CXPULSE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise click.ClickException(f"invalid settings: {problems}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """cxpulse: live contact-centre KPIs from Kafka events, served to Prometheus.

    \b
    Quick start on one machine (no Docker, no Java):
      cxpulse demo
    Every option can also be set as a CXPULSE_* environment variable.
    """


@main.command()
@_settings_options
@click.option("--web-port", type=int, help="Port serving /metrics [CXPULSE_WEB_PORT].")
@click.option("--loglevel", help="Log level: debug, info, warning [CXPULSE_LOG_LEVEL].")
def worker(web_port: int | None, loglevel: str | None, **options: Any) -> None:
    """Run a stream worker: consume events, keep KPI state, serve /metrics.

    Start several with the same --app-id to share the partitions between them.
    """
    import faust

    from streams.app import build_app
    from streams.topics import TopicLayoutError, ensure_topics

    settings = _settings(web_port=web_port, log_level=loglevel, **options)
    try:
        ensure_topics(
            settings.broker,
            [settings.tickets_topic, settings.calls_topic, settings.surveys_topic, settings.customers_topic],
            settings.partitions,
            settings.replication_factor,
        )
    except TopicLayoutError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        raise click.ClickException(
            f"cannot reach the Kafka broker at {settings.broker} ({exc.__class__.__name__}: {exc}); "
            "check CXPULSE_BROKER and that the broker is up"
        ) from exc
    pipeline = build_app(settings)
    click.echo(
        f"cxpulse worker {settings.app_id}: metrics at http://127.0.0.1:{settings.web_port}/metrics", err=True
    )
    faust.Worker(pipeline.app, loglevel=settings.log_level).execute_from_commandline()


@main.command()
@_settings_options
@click.option("--rate", type=float, default=4.0, show_default=True, help="Mean new contacts per second.")
@click.option(
    "--duration", type=float, default=None, help="Stop after this many seconds (default: run until Ctrl-C)."
)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed, for repeatable traffic.")
@click.option(
    "--history",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds of past traffic to send at once before going live, so windows start full.",
)
def simulate(rate: float, duration: float | None, seed: int, history: float, **options: Any) -> None:
    """Produce realistic contact-centre traffic to Kafka in real time.

    Tickets (email, chat, web, social), calls, surveys and customer lifecycle events,
    with bursts, realistic reply and wait times, escalations, abandons and reopens.
    """
    settings = _settings(**options)
    sent = _simulate(settings, rate, duration, seed, progress=True, history=history)
    click.echo(f"\nsent {sent} events", err=True)


def _simulate(
    settings: Settings,
    rate: float,
    duration: float | None,
    seed: int,
    progress: bool,
    stop: threading.Event | None = None,
    history: float = 0.0,
) -> int:
    from kafka import KafkaProducer

    from streams.simulator import run_live
    from streams.topics import bootstrap_servers

    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(settings.broker), linger_ms=20, acks=1)
    topics = {
        "tickets": settings.tickets_topic,
        "calls": settings.calls_topic,
        "surveys": settings.surveys_topic,
        "customers": settings.customers_topic,
    }
    last = [0.0]

    def tick(sent: int) -> None:
        if progress and time.monotonic() - last[0] > 2:
            last[0] = time.monotonic()
            click.echo(f"\rsimulator: {sent} events sent", nl=False, err=True)

    try:
        return run_live(
            lambda family, key, value: producer.send(topics[family], key=key, value=value),
            rate=rate,
            duration=duration,
            seed=seed,
            on_tick=tick,
            stop=stop,
            history_seconds=history,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        producer.flush()
        producer.close()


@main.command()
@click.option("--web-port", type=int, default=6066, show_default=True, help="Port serving /metrics.")
@click.option("--rate", type=float, default=4.0, show_default=True, help="Mean new contacts per second.")
@click.option(
    "--duration", type=float, default=None, help="Stop after this many seconds (default: until Ctrl-C)."
)
def demo(web_port: int, rate: float, duration: float | None) -> None:
    """Everything on one machine: a local broker, a worker and simulated traffic.

    Prints where the metrics are and a live summary; Ctrl-C stops it all.
    """
    from streams.embedded_broker import TansuBroker

    workdir = Path(os.environ.get("CXPULSE_DEMO_DIR", Path.cwd() / ".cxpulse-demo"))
    workdir.mkdir(parents=True, exist_ok=True)
    click.echo("starting the local Kafka-protocol broker (Tansu) ...")
    broker = TansuBroker(log_path=workdir / "broker.log").start()
    env = {
        **os.environ,
        "CXPULSE_BROKER": broker.url,
        "CXPULSE_APP_ID": "cxpulse-demo",
        "CXPULSE_WEB_PORT": str(web_port),
        "CXPULSE_WEB_HOST": "127.0.0.1",
        # Tansu holds a group join for half the session timeout, and reports end offsets
        # per batch: a short timeout and one record per batch keep the demo quick and exact.
        "CXPULSE_SESSION_TIMEOUT": "6",
        "CXPULSE_HEARTBEAT_INTERVAL": "2",
        "CXPULSE_ONE_RECORD_PER_BATCH": "true",
        # Targets that written channels miss now and then, so SLA breaches show in ten minutes.
        "CXPULSE_FIRST_RESPONSE_TARGET_SECONDS": os.environ.get(
            "CXPULSE_FIRST_RESPONSE_TARGET_SECONDS", "300"
        ),
        # A centre with an existing customer base, so retention and churn have a denominator.
        "CXPULSE_CUSTOMER_BASE": os.environ.get("CXPULSE_CUSTOMER_BASE", "5000"),
    }
    worker_log = open(workdir / "worker.log", "ab")  # noqa: SIM115
    worker_proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=worker_log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{web_port}/metrics"
    stop = threading.Event()
    settings = Settings(broker=broker.url)
    sim = threading.Thread(
        target=_simulate,
        args=(settings, rate, None, int(time.time()), False, stop, DEMO_HISTORY),
        daemon=True,
    )
    try:
        _wait_for_worker(worker_proc, web_port, workdir / "worker.log")
        click.echo(f"worker up; logs in {workdir}")
        click.echo(f"metrics:  {url}")
        click.echo(
            "sending the last ten minutes of contact-centre traffic, then live traffic; Ctrl-C to stop\n"
        )
        sim.start()
        started = time.monotonic()
        while duration is None or time.monotonic() - started < duration:
            if worker_proc.poll() is not None:
                raise click.ClickException(f"the worker exited; see {workdir / 'worker.log'}")
            time.sleep(5)
            click.echo(_summary(url))
    except KeyboardInterrupt:
        click.echo("\nstopping ...")
    finally:
        stop.set()
        if sim.is_alive():
            sim.join(timeout=5)
        if worker_proc.poll() is None:
            worker_proc.send_signal(signal.SIGTERM)
            try:
                worker_proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker_proc.kill()
        broker.stop()
        worker_log.close()


def _wait_for_worker(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 90) -> None:
    from streams.embedded_broker import wait_for_port

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"the worker exited during start-up; see {log}")
        try:
            wait_for_port(port, timeout=1)
            return
        except TimeoutError:
            continue
    raise click.ClickException(f"the worker did not serve /metrics within {timeout:.0f} s; see {log}")


def _summary(url: str) -> str:
    """One line of the KPIs a supervisor glances at, summed over all queues."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = urllib.request.urlopen(url, timeout=3).read().decode()
    except OSError as exc:
        return f"(metrics not reachable yet: {exc})"
    sums: dict[str, float] = {}
    frt_sum = frt_count = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("window", "15m") != "15m":
                continue
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
            if sample.name == "cxpulse_first_response_seconds_sum":
                frt_sum += sample.value
            elif sample.name == "cxpulse_first_response_seconds_count":
                frt_count += sample.value
    created = sums.get("cxpulse_window_tickets_created", 0)
    escalated = sums.get("cxpulse_window_tickets_escalated", 0)
    offered = sums.get("cxpulse_window_calls_offered", 0)
    abandoned = sums.get("cxpulse_window_calls_abandoned", 0)
    events = sums.get("cxpulse_events_total", 0)
    frt = f"{frt_sum / frt_count:6.0f}s" if frt_count else "     -"
    esc = f"{escalated / created:5.1%}" if created else "    -"
    abd = f"{abandoned / offered:5.1%}" if offered else "    -"
    return (
        f"{time.strftime('%H:%M:%S')}  events {events:7.0f} | last 15m: tickets {created:5.0f}, "
        f"escalated {esc}, calls {offered:5.0f}, abandoned {abd} | first response (mean, all) {frt}"
    )


@main.command()
@click.option(
    "--check", is_flag=True, help="Fail if the files differ from the event models, instead of writing."
)
def schemas(check: bool) -> None:
    """Write the JSON Schema files of the event contract (streams/schemas/*.json)."""
    from streams.events import FAMILIES

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


if __name__ == "__main__":
    main()
