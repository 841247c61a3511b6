"""``cxpulse simulate``: realistic contact-centre traffic to Kafka, live or as a JSON Lines history."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import click

from streams.settings import Settings
from streams.tools.common import kafka_errors, load_settings, settings_options


@click.command()
@settings_options
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
    settings = load_settings(**options)
    sent = send_traffic(settings, rate, duration, seed, progress=True, history=history)
    click.echo(f"\nsent {sent} events", err=True)


def send_traffic(
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

    with kafka_errors(settings):
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
