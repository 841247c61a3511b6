"""``cxpulse simulate``: realistic contact-centre traffic to Kafka, live or as a JSON Lines history."""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from streams.cli.common import kafka_errors, load_settings, settings_options
from streams.settings import Settings
from streams.simulator.centre_profiles import PROFILES, CentreProfile
from streams.simulator.incidents import KINDS, Incident


class Duration(click.ParamType):
    """Seconds, or a number with a unit: 90s, 15m, 6h, 14d, 2w."""

    name = "duration"
    _UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, int | float):
            return float(value)
        found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhdw]?)\s*", str(value))
        if found is None:
            self.fail(f"{value!r} is not a duration: give seconds or e.g. 90m, 6h, 14d", param, ctx)
        return float(found[1]) * self._UNITS[found[2]]


DURATION = Duration()


def parse_incident(spec: str, now: float, queues: tuple[str, ...]) -> Incident:
    """``KIND:QUEUE:START:LENGTH``: START from now (``+10m``; ``-2h`` lies in a --history), QUEUE
    ``*`` for the whole centre."""
    parts = spec.split(":")
    if len(parts) != 4:
        raise click.BadParameter(f"{spec!r}: give KIND:QUEUE:START:LENGTH, e.g. understaffed:sales:+10m:45m")
    kind, queue, start, length = parts
    if kind not in KINDS:
        raise click.BadParameter(f"{spec!r}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    if queue != "*" and queue not in queues:
        raise click.BadParameter(f"{spec!r}: the profile's queues are {', '.join(queues)} (or * for all)")
    sign = -1.0 if start.startswith("-") else 1.0
    begins = now + sign * DURATION.convert(start.lstrip("+-"), None, None)
    ends = begins + DURATION.convert(length, None, None)
    return Incident(kind, begins, ends, None if queue == "*" else queue, spec)


@click.command()
@settings_options
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default="demo",
    show_default=True,
    help="The centre simulated: "
    + "; ".join(f"{name}: {profile.description}" for name, profile in PROFILES.items())
    + ".",
)
@click.option("--rate", type=float, help="Mean new contacts per second while open (default: the profile's).")
@click.option(
    "--duration", type=float, default=None, help="Stop after this many seconds (default: run until Ctrl-C)."
)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed, for repeatable traffic.")
@click.option(
    "--history",
    type=DURATION,
    default="0",
    show_default=True,
    help="Past traffic to send at once before going live, so windows start full: seconds, "
    "or a number with s, m, h, d or w (14d).",
)
@click.option(
    "--jsonl",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the --history seconds up to now to this JSON Lines file instead (for cxpulse replay).",
)
@click.option(
    "--incident",
    "incidents",
    multiple=True,
    metavar="KIND:QUEUE:START:LENGTH",
    help="Script an incident (repeatable): START from now (+10m, or -2h inside --history), QUEUE or * "
    "for all. Kinds: " + "; ".join(f"{k}: {v}" for k, v in KINDS.items()) + ".",
)
@click.option(
    "--callbacks",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of the callers still waiting after a minute who take a callback offer "
    "(call.callback_requested, then call.callback_handled when an agent calls back).",
)
@click.option(
    "--via",
    help="Send through a running `cxpulse ingest` as these platforms would: zendesk (tickets), "
    "twilio (calls), comma-separated; other events go to its /v1/events.",
)
@click.option(
    "--gateway",
    default="http://127.0.0.1:8088",
    show_default=True,
    help="The gateway's URL, with --via (its token: the first of CXPULSE_INGEST_TOKENS).",
)
def simulate(
    profile: str,
    rate: float | None,
    duration: float | None,
    seed: int,
    history: float,
    jsonl: Path | None,
    incidents: tuple[str, ...],
    callbacks: float,
    via: str | None,
    gateway: str,
    **options: Any,
) -> None:
    """Produce realistic contact-centre traffic to Kafka in real time.

    Tickets (email, chat, web, social), calls, surveys and customer lifecycle events,
    with bursts, realistic reply and wait times, escalations, abandons and reopens.
    With --jsonl, write past traffic to a file instead and stop, e.g. two weeks of a
    small centre for cxpulse replay:

    \b
      cxpulse simulate --profile small --history 14d --jsonl history.jsonl

    With --incident, things go wrong on cue, e.g. most of sales' agents away for 45 minutes
    from ten minutes on (callers wait and hang up: the abandonment alert should page):

    \b
      cxpulse simulate --profile small --incident understaffed:sales:+10m:45m
    """
    centre = PROFILES[profile]
    scripted = tuple(parse_incident(spec, time.time(), centre.queues) for spec in incidents)
    if jsonl is not None:
        import orjson

        from streams.simulator.traffic import Traffic

        if history <= 0:
            raise click.UsageError("--jsonl needs --history: how many seconds of past traffic to write")
        now = time.time()
        written = 0
        traffic = Traffic(
            start=now - history,
            rate=rate,
            seed=seed,
            profile=centre,
            incidents=scripted,
            callback_share=callbacks,
        )
        with (
            open(jsonl, "wb") as out,
            click.progressbar(length=int(history), label="simulating", file=sys.stderr) as bar,
        ):
            done = now - history
            for _, _, event in traffic.until(now):
                out.write(orjson.dumps(event) + b"\n")
                written += 1
                if not written % 5000:
                    at = traffic.clock
                    bar.update(int(at - done))
                    done = at
            bar.update(int(now - done))
        click.echo(f"wrote {written} events ({history:.0f} s of traffic) to {jsonl}", err=True)
        return
    settings = load_settings(**options)
    if via is not None:
        sent = _send_via_gateway(
            settings, via, gateway, rate, duration, seed, history, centre, scripted, callbacks
        )
    else:
        sent = send_traffic(
            settings,
            rate,
            duration,
            seed,
            progress=True,
            history=history,
            profile=centre,
            incidents=scripted,
            callback_share=callbacks,
        )
    click.echo(f"\nsent {sent} events", err=True)


def _send_via_gateway(
    settings: Settings,
    via: str,
    gateway: str,
    rate: float | None,
    duration: float | None,
    seed: int,
    history: float,
    profile: CentreProfile,
    incidents: tuple[Incident, ...] = (),
    callback_share: float = 0.0,
) -> int:
    from streams.simulator.traffic import run_live
    from streams.simulator.vendor_traffic import VIA, GatewaySender

    platforms = {p.strip() for p in via.split(",") if p.strip()}
    unknown = platforms - set(VIA)
    if unknown:
        raise click.BadParameter(
            f"unknown {sorted(unknown)}; --via takes {', '.join(VIA)}", param_hint="--via"
        )
    tokens = settings.ingest_senders()
    if not tokens:
        raise click.UsageError("--via needs the gateway's token: set CXPULSE_INGEST_TOKENS")
    sender = GatewaySender(gateway, next(iter(tokens.values())), platforms)
    try:
        return run_live(
            sender,
            rate=rate,
            duration=duration,
            seed=seed,
            history_seconds=history,
            profile=profile,
            incidents=incidents,
            callback_share=callback_share,
        )
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(
            f"sending through {gateway} failed: {exc}; is `cxpulse ingest` running?"
        ) from exc
    except KeyboardInterrupt:
        return 0
    finally:
        sender.close()


def send_traffic(
    settings: Settings,
    rate: float | None,
    duration: float | None,
    seed: int,
    progress: bool,
    stop: threading.Event | None = None,
    history: float = 0.0,
    profile: CentreProfile = PROFILES["demo"],
    incidents: tuple[Incident, ...] = (),
    callback_share: float = 0.0,
) -> int:
    from kafka import KafkaProducer

    from streams.simulator.traffic import run_live

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
            profile=profile,
            incidents=incidents,
            callback_share=callback_share,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        producer.flush()
        producer.close()
