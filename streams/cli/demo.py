"""``cxpulse demo``: a local broker, a worker, the ingest gateway and simulated traffic, all live."""

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
import orjson

# The demo centre has been open ten minutes when it starts: the windows have data at once.
DEMO_HISTORY = 600.0
DEMO_CALLBACKS = 0.3  # of the callers still waiting after a minute, those who take a callback
# Half-hours the demo forecasts ahead; the same hours of last week are sent first to forecast from.
DEMO_FORECAST_INTERVALS = 4
DEMO_TOKEN = "cxpulse-demo-token"


DEMO_BUSINESS_HOURS = json.dumps(
    {
        "returns": {
            "zone": "UTC",
            "hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "06:00-22:00"),
        }
    }
)


def _gateway_env(port: int) -> dict[str, str]:
    """The demo's gateway: local only, one token, and no idempotent producer (Tansu has none)."""
    return {
        "CXPULSE_INGEST_PORT": str(port),
        "CXPULSE_INGEST_HOST": "127.0.0.1",
        "CXPULSE_INGEST_TOKENS": json.dumps({"demo": DEMO_TOKEN}),
        "CXPULSE_INGEST_IDEMPOTENT": "false",
    }


@click.command()
@click.option("--web-port", type=int, default=6066, show_default=True, help="Port serving /metrics.")
@click.option("--broker-port", type=int, help="Port of the local broker [default: a free one].")
@click.option("--ingest-port", type=int, help="Port of the ingest gateway [default: a free one].")
@click.option("--rate", type=float, default=4.0, show_default=True, help="Mean new contacts per second.")
@click.option(
    "--duration", type=float, default=None, help="Stop after this many seconds (default: until Ctrl-C)."
)
def demo(
    web_port: int, broker_port: int | None, ingest_port: int | None, rate: float, duration: float | None
) -> None:
    """Everything on one machine: a local broker, a worker, the ingest gateway and simulated traffic.

    Prints where the metrics are and a live summary. Ctrl-C, SIGTERM or a closed terminal
    (SIGHUP) stops it all; if the demo itself is killed, its worker and broker stop too.
    """
    from streams.cli.embedded_broker import TansuBroker
    from streams.cli.processes import free_port, port_in_use, spawn, stop, wait_for_port
    from streams.simulator.traffic import run_live
    from streams.simulator.vendor_traffic import GatewaySender

    for port, option in (
        (web_port, "--web-port"),
        (broker_port, "--broker-port"),
        (ingest_port, "--ingest-port"),
    ):
        if port is not None and port_in_use(port):
            raise click.ClickException(
                f"port {port} is already in use (another cxpulse demo or worker?); stop it, or give "
                f'this demo a free port with {option} (with make: make demo DEMO_ARGS="{option} <port>")'
            )
    workdir = Path(os.environ.get("CXPULSE_DEMO_DIR", Path.cwd() / ".cxpulse-demo"))
    workdir.mkdir(parents=True, exist_ok=True)
    stopping = threading.Event()  # set by a stop signal; also tells the simulator to stop
    received: list[str] = []
    sim: threading.Thread | None = None
    broker: TansuBroker | None = None
    worker_proc: subprocess.Popen[bytes] | None = None
    gateway_proc: subprocess.Popen[bytes] | None = None
    worker_log = open(workdir / "worker.log", "ab")  # noqa: SIM115
    gateway_log = open(workdir / "ingest.log", "ab")  # noqa: SIM115
    try:
        with _stop_signals(stopping, received):
            click.echo("starting the local Kafka-protocol broker (Tansu) ...")
            broker = TansuBroker(broker_port, log_path=workdir / "broker.log").start()
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
                "CXPULSE_FORECAST_INTERVALS": str(DEMO_FORECAST_INTERVALS),
                # One queue with opening hours, so business-hours clocks show beside calendar ones.
                "CXPULSE_BUSINESS_HOURS": os.environ.get("CXPULSE_BUSINESS_HOURS", DEMO_BUSINESS_HOURS),
            }
            if not stopping.is_set():
                worker_proc = spawn(
                    [sys.executable, "-m", "streams.cli", "worker"],
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
                click.echo(f"wallboard in another terminal: cxpulse top {url}   (a: agents one by one)")
                click.echo(
                    "sending the last ten minutes of contact-centre traffic, then live traffic; "
                    "Ctrl-C to stop\n"
                )
                gateway_port = ingest_port or free_port()
                gateway_proc = spawn(
                    [sys.executable, "-m", "streams.cli", "ingest", "--loglevel", "warning"],
                    env={**env, **_gateway_env(gateway_port)},
                    stdout=gateway_log,
                    stderr=subprocess.STDOUT,
                )
                try:
                    wait_for_port(gateway_port, timeout=30)
                except TimeoutError:
                    log = workdir / "ingest.log"
                    raise click.ClickException(f"the ingest gateway did not start; see {log}") from None
                click.echo(
                    f"ingest:   http://127.0.0.1:{gateway_port}/v1/ (tickets arrive as Zendesk webhooks, "
                    "calls as Twilio TaskRouter callbacks)"
                )
                click.echo(
                    f"          send your own: curl -H 'Authorization: Bearer {DEMO_TOKEN}' "
                    "-H 'Content-Type: application/json' -d @event.json "
                    f"http://127.0.0.1:{gateway_port}/v1/events"
                )
                sender = GatewaySender(f"http://127.0.0.1:{gateway_port}", DEMO_TOKEN, {"zendesk", "twilio"})
                preloaded = _preload_last_week(broker.url, rate, stopping)
                click.echo(
                    f"sent {preloaded} call events of the same hours last week: the forecast "
                    f"(cxpulse plan {url}) has a week to go by"
                )
                sim = threading.Thread(
                    target=run_live,
                    args=(sender, rate, None, int(time.time())),
                    kwargs={
                        "stop": stopping,
                        "history_seconds": DEMO_HISTORY,
                        "callback_share": DEMO_CALLBACKS,
                    },
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
        stop(gateway_proc)
        stop(worker_proc)
        if broker is not None:
            broker.stop()
        worker_log.close()
        gateway_log.close()


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _preload_last_week(broker: str, rate: float, stopping: threading.Event) -> int:
    """The calls of the forecast's hours a week ago, straight onto the calls topic: a forecast
    needs the same interval of an earlier week, and a demo starts with none."""
    from kafka import KafkaProducer

    from streams.settings import Settings
    from streams.simulator.traffic import calls_a_week_ago

    topic = Settings(broker=broker).calls_topic
    producer = KafkaProducer(bootstrap_servers=broker, linger_ms=20, acks=1)
    sent = 0
    try:
        hours = DEMO_FORECAST_INTERVALS / 2
        for _, key, event in calls_a_week_ago(time.time(), hours, rate, seed=7):
            if stopping.is_set():
                break
            producer.send(topic, key=key.encode(), value=orjson.dumps(event))
            sent += 1
    finally:
        producer.flush()
        producer.close()
    return sent


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
    from streams.cli.processes import wait_for_port

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
