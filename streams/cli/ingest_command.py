"""``cxpulse ingest``: the HTTP gateway for help desks and phone systems, and the Asterisk follower."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any

import click

from metrics.documents import JsonObject
from streams.cli.common import load_settings, settings_options
from streams.settings import Settings


def _sink(settings: Settings) -> Any:
    from streams.ingest.sink import KafkaSink

    return KafkaSink(
        settings.kafka(),
        settings.source_topics(),
        settings.ingest_kafka_timeout_seconds,
        idempotent=settings.ingest_idempotent,
    )


@click.group(invoke_without_command=True)
@settings_options
@click.option("--port", type=int, help="Port of the gateway [CXPULSE_INGEST_PORT].")
@click.option("--loglevel", default="info", show_default=True, help="Log level: debug, info, warning.")
@click.pass_context
def ingest(ctx: click.Context, port: int | None, loglevel: str, **options: Any) -> None:
    """Take events from Zendesk, Twilio, Amazon Connect, Genesys and senders of the contract.

    \b
    POST /v1/events                       contract events (JSON, array, NDJSON); bearer token
    POST /v1/webhooks/zendesk             Zendesk ticket events (signed)
    POST /v1/webhooks/twilio-taskrouter   TaskRouter event callbacks (signed)
    POST /v1/webhooks/amazon-connect      Connect contact events via EventBridge; bearer token
    POST /v1/webhooks/genesys             Genesys Cloud conversation events; bearer token
    GET  /metrics /live /ready

    A request is answered 202 only once Kafka holds all of its events (acks=all); 503 with
    Retry-After otherwise, so the platform's retry delivers them. CXPULSE_WEB_CONFIG_FILE, the
    worker's TLS and basic-auth file, serves this port over TLS and guards /metrics too.
    docs/ingest.md shows how to point each platform here. For Asterisk, see
    `cxpulse ingest asterisk-queue-log --help`.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = options
        return
    from aiohttp import web

    from streams.ingest.gateway import Gateway

    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s")
    settings = load_settings(ingest_port=port, **options)
    from streams.ingest.adapters import PLATFORMS

    signing = sorted({p.signed.secret_setting for p in PLATFORMS.values() if p.signed is not None})
    if not settings.ingest_senders() and not any(getattr(settings, name) for name in signing):
        raise click.ClickException(
            "no sender can be authenticated: set CXPULSE_INGEST_TOKENS (and/or "
            + ", ".join(f"CXPULSE_{name.upper()}" for name in signing)
            + "); see docs/ingest.md"
        )
    from streams.cli.processes import port_in_use

    if port_in_use(settings.ingest_port, settings.ingest_host):
        raise click.ClickException(
            f"port {settings.ingest_port} is already in use; set CXPULSE_INGEST_PORT (or --port) "
            "to a free one"
        )
    from streams.web_config import WebConfigError, load

    try:
        protection = load(settings.web_config_file) if settings.web_config_file else None
    except WebConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    gateway = Gateway(settings, _sink(settings))
    scheme = "https" if protection and protection.ssl_context else "http"
    click.echo(
        f"cxpulse ingest: listening on {scheme}://{settings.ingest_host}:{settings.ingest_port}/v1/", err=True
    )
    web.run_app(
        gateway.app(protection),
        host=settings.ingest_host,
        port=settings.ingest_port,
        print=None,
        access_log=None,
        ssl_context=protection.ssl_context if protection else None,
    )


@ingest.command("asterisk-queue-log")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the position is kept [default: PATH.cxpulse-position next to the log].",
)
@click.option("--from-end", is_flag=True, help="On the very first run, skip the lines already in the file.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@click.pass_obj
def asterisk_queue_log(
    options: JsonObject, path: Path, state: Path | None, from_end: bool, quiet: bool
) -> None:
    """Follow Asterisk's queue_log (like tail -F) and send its calls to Kafka.

    ENTERQUEUE, CONNECT, ABANDON, COMPLETEAGENT and COMPLETECALLER become call events, and
    EXITWITHKEY, EXITWITHTIMEOUT and EXITEMPTY exits (CXPULSE_EXIT_OUTCOMES). The position is
    saved after Kafka acknowledged each batch, so a restart neither skips nor repeats a line;
    log rotation (rename or copytruncate) is followed.
    """
    from streams.ingest.gateway import lookups_from
    from streams.ingest.queue_log import QueueLogFollower

    logging.basicConfig(level="INFO", format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s")
    settings = load_settings(**(options or {}))
    state = state or path.with_name(path.name + ".cxpulse-position")
    last = [0.0]

    def progress(lines: int, events: int) -> None:
        if not quiet and time.monotonic() - last[0] > 2:
            last[0] = time.monotonic()
            click.echo(f"queue_log: {follower.sent} events sent, {follower.skipped} lines skipped", err=True)

    limits = settings.limits()
    follower = QueueLogFollower(path, state, _sink(settings), lookups_from(settings), limits, from_end,
                                on_batch=progress)  # fmt: skip
    click.echo(f"following {path} (position in {state})", err=True)

    _until_stopped(follower)
    click.echo(f"stopped: {follower.sent} events sent, {follower.skipped} lines skipped", err=True)


@ingest.command("freeswitch")
@click.argument("address", metavar="HOST:PORT", default="127.0.0.1:8021")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@click.pass_obj
def freeswitch_socket(options: JsonObject, address: str, quiet: bool) -> None:
    """Read mod_callcenter events from FreeSWITCH's event socket and send them to Kafka.

    \b
    Connects to HOST:PORT (default 127.0.0.1:8021) with CXPULSE_FREESWITCH_PASSWORD,
    subscribes to CUSTOM callcenter::info, and sends each event as the freeswitch webhook
    would (docs/ingest.md): calls queued, answered, abandoned (BREAK_OUT), exits, agent states.
    A lost connection is retried; events FreeSWITCH fired meanwhile are not kept by it.
    """
    from streams.ingest.event_socket import EventSocketFollower, RefusedLogin
    from streams.ingest.gateway import lookups_from

    logging.basicConfig(level="INFO", format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s")
    settings = load_settings(**(options or {}))
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"{address!r}: give HOST:PORT, e.g. 127.0.0.1:8021")
    password = settings.freeswitch_password
    if password is None:
        raise click.ClickException("set CXPULSE_FREESWITCH_PASSWORD (event_socket.conf.xml's password)")
    last = [0.0]

    def progress(events: int) -> None:
        if not quiet and time.monotonic() - last[0] > 2:
            last[0] = time.monotonic()
            click.echo(f"freeswitch: {follower.sent} events sent, {follower.skipped} skipped", err=True)

    follower = EventSocketFollower(host, int(port), password.get_secret_value(), _sink(settings),
                                   lookups_from(settings), settings.limits(), on_batch=progress)  # fmt: skip
    click.echo(f"reading mod_callcenter events from {host}:{port}", err=True)

    try:
        _until_stopped(follower)
    except RefusedLogin as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"stopped: {follower.sent} events sent, {follower.skipped} skipped", err=True)


def _until_stopped(follower: Any) -> None:
    """Run a follower (``run(stop)``, a ``sink``) until SIGINT or SIGTERM, then close its producer."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await follower.run(stop)
        finally:
            with contextlib.suppress(Exception):
                await follower.sink.close()

    asyncio.run(main())
