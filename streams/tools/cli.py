"""The ``cxpulse`` command: worker, traffic simulator, all-in-one demo, and schema files."""

from __future__ import annotations

import contextlib
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

import metrics.contract
from streams.settings import Settings

SCHEMA_DIR = Path(metrics.contract.__file__).resolve().parent / "schemas"
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
            f"CXPULSE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
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

    from streams.live.app import build_app

    settings = _settings(web_port=web_port, log_level=loglevel, **options)
    from streams.tools.processes import port_in_use

    if port_in_use(settings.web_port, settings.web_host):
        raise click.ClickException(
            f"port {settings.web_port} on {settings.web_host} is already in use (another worker?); stop "
            "what holds it, or set CXPULSE_WEB_PORT (or --web-port) to a free port"
        )
    from streams.tools.gc_tuning import tune_gc

    tune_gc()
    from streams.live.web_config import WebConfigError

    try:
        pipeline = build_app(settings)
    except WebConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    _prepare_topics(settings, pipeline.topic_specs())
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


@contextlib.contextmanager
def _kafka_errors(settings: Settings) -> Any:
    """Turn a failure to reach Kafka into one line naming the setting most likely to fix it."""
    from streams.cluster.access import connection_errors

    with connection_errors() as causes:
        try:
            yield
        except click.ClickException:
            raise
        except Exception as exc:
            raise click.ClickException(settings.kafka().explain(exc, causes)) from exc


def _prepare_topics(settings: Settings, specs: list[Any]) -> None:
    """Create what is missing and wait until the brokers list it; stop with what to fix if not."""
    from streams.cluster.topics import TopicLayoutError, ensure_topics

    with _kafka_errors(settings):
        try:
            created = ensure_topics(settings.kafka(), specs)
        except (TopicLayoutError, TimeoutError) as exc:
            raise click.ClickException(str(exc)) from exc
    if created:
        click.echo(f"created {len(created)} topics: {', '.join(created)}", err=True)


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
@click.option(
    "--jsonl",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the --history seconds up to now to this JSON Lines file instead (for cxpulse replay).",
)
def simulate(
    rate: float, duration: float | None, seed: int, history: float, jsonl: Path | None, **options: Any
) -> None:
    """Produce realistic contact-centre traffic to Kafka in real time.

    Tickets (email, chat, web, social), calls, surveys and customer lifecycle events,
    with bursts, realistic reply and wait times, escalations, abandons and reopens.
    With --jsonl, write past traffic to a file instead and stop.
    """
    if jsonl is not None:
        import orjson

        from streams.tools.simulator import Traffic

        if history <= 0:
            raise click.UsageError("--jsonl needs --history: how many seconds of past traffic to write")
        now = time.time()
        written = 0
        with open(jsonl, "wb") as out:
            for _, _, event in Traffic(start=now - history, rate=rate, seed=seed).until(now):
                out.write(orjson.dumps(event) + b"\n")
                written += 1
        click.echo(f"wrote {written} events ({history:.0f} s of traffic) to {jsonl}", err=True)
        return
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

    from streams.tools.simulator import run_live

    with _kafka_errors(settings):
        producer = KafkaProducer(**settings.kafka().kafka_python(), linger_ms=20, acks=1)
    topics = settings.source_topics()
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

    Prints where the metrics are and a live summary. Ctrl-C, SIGTERM or a closed terminal
    (SIGHUP) stops it all; if the demo itself is killed, its worker and broker stop too.
    """
    from streams.tools.embedded_broker import TansuBroker
    from streams.tools.processes import port_in_use, spawn, stop

    if port_in_use(web_port):
        raise click.ClickException(
            f"port {web_port} is already in use (another cxpulse demo or worker?); stop it, "
            "or give this demo a free port with --web-port"
        )
    workdir = Path(os.environ.get("CXPULSE_DEMO_DIR", Path.cwd() / ".cxpulse-demo"))
    workdir.mkdir(parents=True, exist_ok=True)
    stopping = threading.Event()  # set by a stop signal; also tells the simulator to stop
    received: list[str] = []
    sim: threading.Thread | None = None
    broker: TansuBroker | None = None
    worker_proc: subprocess.Popen[bytes] | None = None
    worker_log = open(workdir / "worker.log", "ab")  # noqa: SIM115
    try:
        with _stop_signals(stopping, received):
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
            if not stopping.is_set():
                worker_proc = spawn(
                    [sys.executable, "-m", "streams.tools.cli", "worker"],
                    env=env,
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                )
            if worker_proc is not None and _wait_for_worker(
                worker_proc, web_port, workdir / "worker.log", stopping
            ):
                url = f"http://127.0.0.1:{web_port}/metrics"
                click.echo(f"worker up; logs in {workdir}")
                click.echo(f"metrics:  {url}")
                click.echo(
                    "sending the last ten minutes of contact-centre traffic, then live traffic; "
                    "Ctrl-C to stop\n"
                )
                settings = Settings(broker=broker.url)
                sim = threading.Thread(
                    target=_simulate,
                    args=(settings, rate, None, int(time.time()), False, stopping, DEMO_HISTORY),
                    daemon=True,
                )
                sim.start()
                started = time.monotonic()
                while not stopping.wait(5):
                    if worker_proc.poll() is not None:
                        raise click.ClickException(f"the worker exited; see {workdir / 'worker.log'}")
                    click.echo(_summary(url))
                    if duration is not None and time.monotonic() - started >= duration:
                        break
        if received:
            click.echo(f"\n{received[0]} received: stopping ...")
    finally:
        # A second signal must not cut the clean-up short.
        for signum in _STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        stopping.set()
        if sim is not None and sim.is_alive():
            sim.join(timeout=5)
        stop(worker_proc)
        if broker is not None:
            broker.stop()
        worker_log.close()


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _stop_signals(stopping: threading.Event, received: list[str]) -> Any:
    """SIGINT, SIGTERM and SIGHUP alike set ``stopping`` (and note which came), raising nothing.

    The demo waits on ``stopping`` between steps instead of being interrupted mid-call, where
    a library could catch or wrap the interruption and skip the clean-up.
    """

    def note(signum: int, frame: Any) -> None:
        received.append(signal.Signals(signum).name)
        stopping.set()

    previous = {signum: signal.signal(signum, note) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_for_worker(
    proc: subprocess.Popen[bytes], port: int, log: Path, stopping: threading.Event, timeout: float = 90
) -> bool:
    """True once the worker serves its port; False if a stop signal came first."""
    from streams.tools.processes import wait_for_port

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping.is_set():
        if proc.poll() is not None:
            raise click.ClickException(f"the worker exited during start-up; see {log}")
        try:
            wait_for_port(port, timeout=1)
            return True
        except TimeoutError:
            continue
    if stopping.is_set():
        return False
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


def _moment(value: str | None) -> float | None:
    """Unix seconds from an RFC 3339 time or a number."""
    if value is None:
        return None
    from datetime import datetime

    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither RFC 3339 (2026-11-02T08:00:00Z) nor Unix seconds"
        ) from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset; add Z or +01:00")
    return moment.timestamp()


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kafka", "from_kafka", is_flag=True, help="Read the event topics from the broker instead.")
@_settings_options
@click.option(
    "--since", help="With --kafka: first record written at or after this time (RFC 3339 or Unix seconds)."
)
@click.option("--until", help="With --kafka: last record written at or before this time.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("cxpulse-replay.om"),
    show_default=True,
    help="OpenMetrics file to write, for promtool tsdb create-blocks-from openmetrics.",
)
@click.option(
    "--step",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds of event time between two snapshots of every series (0: only the final one).",
)
@click.option("--at", "final_at", help="Time of the final snapshot (default: the newest event's time).")
@click.option(
    "--rejected",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write each rejected record with its reason to this JSON Lines file.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def replay(
    files: tuple[Path, ...],
    from_kafka: bool,
    since: str | None,
    until: str | None,
    out: Path,
    step: float,
    final_at: str | None,
    rejected: Path | None,
    quiet: bool,
    **options: Any,
) -> None:
    """Recompute every KPI for stored history, fast, and write it for Prometheus.

    Reads events from JSON Lines FILES (one event per line, any mix of tickets, calls,
    surveys and customer events, in the order they happened) or, with --kafka, from the
    event topics. Events go through the same validation and KPI rules as the live worker,
    in one process without Faust, and every series the worker exports is written as it
    stood every --step seconds of event time. Load the result into Prometheus with

    \b
      promtool tsdb create-blocks-from openmetrics cxpulse-replay.om DATA_DIR

    Settings (thresholds, queue settings, grace) come from the same CXPULSE_* variables as
    the worker's, so the numbers match what the worker shows.
    """
    from streams.replay.driver import Replay, run
    from streams.replay.sources import JsonLines, KafkaRange

    if bool(files) == from_kafka:
        raise click.UsageError("give JSON Lines FILES or --kafka (one of them)")
    if step < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--step")
    settings = _settings(**options)
    if from_kafka:
        topics = settings.source_topics()
        with _kafka_errors(settings):
            try:
                source: Any = KafkaRange(settings.kafka(), topics, _moment(since), _moment(until))
            except LookupError as exc:
                raise click.ClickException(f"{exc}; check --broker and the topic options") from exc
    else:
        if since or until:
            raise click.UsageError("--since and --until apply to --kafka only")
        source = JsonLines(list(files))
    from streams.tools.gc_tuning import tune_gc

    tune_gc()
    engine = Replay(settings)
    engine.keep_rejections = rejected is not None
    from metrics.export.openmetrics import OpenMetricsWriter

    out.parent.mkdir(parents=True, exist_ok=True)
    writer = OpenMetricsWriter(out)
    started = time.monotonic()
    records_read = 0
    with click.progressbar(
        length=source.total,
        label=f"replaying {source.total} {source.unit}",
        file=sys.stderr,
        hidden=quiet,
        show_pos=source.unit == "records",
    ) as bar:

        def records() -> Any:
            nonlocal records_read
            pending = 0
            for record, size in source:
                pending += size
                if pending >= 65536 or (source.unit == "records" and pending >= 1000):
                    bar.update(pending)
                    pending = 0
                if record is not None:
                    records_read += 1
                    yield record
            bar.update(pending)

        run(engine, records(), step, writer.add)
    if engine.clock is None:
        writer.close()
        raise click.ClickException("no valid event in the input: nothing to replay")
    last = _moment(final_at) or engine.clock
    writer.add(engine.families(last), last)
    samples = writer.close()
    elapsed = time.monotonic() - started
    if rejected is not None:
        _write_rejections(engine, rejected)
    click.echo(_replay_summary(engine, last), err=True)
    click.echo(
        f"{records_read} records in {elapsed:.1f} s ({records_read / max(elapsed, 1e-9):,.0f} records/s): "
        f"{sum(engine.events.values())} valid, {sum(engine.invalid.values())} rejected, "
        f"{engine.duplicates} duplicates, {engine.late} late facts",
        err=True,
    )
    click.echo(f"wrote {samples} samples to {out}", err=True)
    click.echo(
        f"load them with: promtool tsdb create-blocks-from openmetrics {out} <prometheus data dir>", err=True
    )


def _write_rejections(engine: Any, path: Path) -> None:
    import orjson

    with open(path, "wb") as out:
        for record, rejection in engine.rejections:
            doc = {
                "reason": rejection.reason,
                "detail": rejection.detail,
                "source": record.source,
                "offset": record.offset,
                "value": record.value.decode("utf-8", "replace"),
            }
            out.write(orjson.dumps(doc) + b"\n")


def _replay_summary(engine: Any, at: float) -> str:
    """Per queue and channel: the totals a supervisor checks first, as of the final snapshot."""
    from metrics.aggregates.view import queue_totals

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    rows = []
    for q in queue_totals(engine.values()):
        frt = q.mean("first_response_seconds")
        rows.append(
            (
                q.queue,
                q.channel,
                f"{q.count('tickets_created'):.0f}",
                share(q.ratio("tickets_escalated", "tickets_created")),
                "-" if frt is None else f"{frt:.0f}",
                f"{q.count('calls_offered'):.0f}",
                share(q.ratio("calls_abandoned", "calls_offered")),
                f"{q.count('tickets_open'):.0f}",
            )
        )
    header = ("queue", "channel", "tickets", "escalated", "FRT mean s", "calls", "abandoned", "open")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [header, *rows]
    ]
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    return f"\nKPI totals as of {stamp}:\n" + "\n".join(lines)


def _shown(value: Any) -> str:
    """A setting's value as it would be written in its environment variable; secrets masked."""
    from pydantic import SecretStr

    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return "********"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _default(info: Any) -> Any:
    return None if info.is_required() else info.get_default(call_default_factory=True)


def _settings_reference() -> str:
    """The Markdown table of every setting: docs/configuration.md holds exactly this."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = _shown(_default(info))
        shown = f"`{default}`" if default else ""
        rows.append(f"| `CXPULSE_{name.upper()}` | {shown} | {info.description} |")
    return "\n".join(rows) + "\n"


@main.command("config")
@_settings_options
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
    settings = _settings(**options)
    click.echo("# cxpulse settings in effect (* = not the default; secrets masked)")
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        mark = " " if value == _default(info) else "*"
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


if __name__ == "__main__":
    main()
