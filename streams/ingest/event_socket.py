"""Read FreeSWITCH ``mod_callcenter`` events from the event socket and send them to Kafka.

The follower connects to FreeSWITCH's event socket (``mod_event_socket``, port 8021 by
default) as an inbound client: it answers the ``auth/request`` with the socket's password,
subscribes to ``CUSTOM callcenter::info`` as JSON, and maps each event with the FreeSWITCH adapter
(:mod:`streams.ingest.adapters.freeswitch`) into the same idempotent ``acks=all`` producer as the
gateway, each acknowledged by Kafka before the next is read.

A lost connection (FreeSWITCH restarting, the network) is retried with a growing pause, up to
30 s; so is a socket that does not greet and take the login within 10 s (a FreeSWITCH still
starting, a port forwarded to nothing). A stop signal ends the follower at any point. The event
socket keeps nothing for a client that is away: events of that time are not sent, and the log
says how long the follower was disconnected. Every event it does send keeps its vendor-derived
id, so one sent twice (Kafka unavailable mid-batch, then retried) counts once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

from metrics.contract.validation import Limits
from metrics.documents import JsonObject
from streams.ingest.adapters import freeswitch
from streams.ingest.adapters.common import Lookups, Unmappable
from streams.ingest.contract_batch import Addressed, address
from streams.ingest.sink import KafkaSink, unless_stopped, wait_unless_stopped

log = logging.getLogger("cxpulse.ingest.freeswitch")
SUBSCRIBE = b"event json CUSTOM callcenter::info\n\n"
MAX_PAUSE_SECONDS = 30.0
LOGIN_SECONDS = 10.0  # connect, greeting, login and subscription


class RefusedLogin(RuntimeError):
    """The event socket did not accept the password."""


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes]:
    """One event-socket message: its header lines up to a blank line, and a body of
    ``Content-Length`` bytes when there is one."""
    headers: dict[str, str] = {}
    while True:
        line = (await reader.readuntil(b"\n")).decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if headers:
                break
            continue  # blank lines between messages
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    length = int(headers.get("Content-Length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return headers, body


class EventSocketFollower:
    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        sink: KafkaSink,
        lookups: Lookups,
        limits: Limits,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.host, self.port, self.password = host, port, password
        self.sink = sink
        self.lookups = lookups
        self.limits = limits
        self.on_batch = on_batch  # (events sent), for progress output
        self.sent = 0
        self.skipped = 0
        self.connections = 0

    async def run(self, stop: asyncio.Event) -> None:
        pause = 1.0
        lost_at: float | None = None
        while not stop.is_set():
            try:
                connected = await unless_stopped(
                    stop, asyncio.wait_for(asyncio.open_connection(self.host, self.port), LOGIN_SECONDS)
                )
            except OSError as exc:  # TimeoutError included
                log.warning("event socket %s:%d unreachable (%s); retrying in %.0f s", self.host, self.port,
                            exc or type(exc).__name__, pause)  # fmt: skip
                await wait_unless_stopped(stop, pause)
                pause = min(MAX_PAUSE_SECONDS, pause * 2)
                continue
            if connected is None:
                return
            reader, writer = connected
            try:
                if not await unless_stopped(stop, self._login_in_time(reader, writer)):
                    return  # stopped while logging in
                self.connections += 1
                if lost_at is not None:
                    log.warning("reconnected after %.0f s: FreeSWITCH sent those seconds' events to nobody",
                                time.monotonic() - lost_at)  # fmt: skip
                pause = 1.0
                await self._follow(reader, stop)
            except RefusedLogin:
                raise
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                log.warning("event socket connection lost (%s); reconnecting", exc or type(exc).__name__)
                lost_at = time.monotonic()
                await wait_unless_stopped(stop, pause)
                pause = min(MAX_PAUSE_SECONDS, pause * 2)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _login_in_time(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            await asyncio.wait_for(self._login(reader, writer), LOGIN_SECONDS)
        except TimeoutError:
            raise ConnectionError(
                f"no greeting and login within {LOGIN_SECONDS:.0f} s: is {self.host}:{self.port} "
                "FreeSWITCH's event socket (event_socket.conf.xml listen-port)?"
            ) from None
        return True

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers, _ = await read_frame(reader)
        if headers.get("Content-Type") != "auth/request":
            raise ConnectionError(f"not an event socket: it opened with {headers}")
        writer.write(f"auth {self.password}\n\n".encode())
        await writer.drain()
        headers, _ = await read_frame(reader)
        if not headers.get("Reply-Text", "").startswith("+OK"):
            raise RefusedLogin(
                f"the event socket refused the password ({headers.get('Reply-Text', '')}): "
                "check CXPULSE_FREESWITCH_PASSWORD against event_socket.conf.xml"
            )
        writer.write(SUBSCRIBE)
        await writer.drain()
        headers, _ = await read_frame(reader)
        if not headers.get("Reply-Text", "").startswith("+OK"):
            raise ConnectionError(f"subscribing to callcenter::info failed: {headers.get('Reply-Text')}")

    async def _follow(self, reader: asyncio.StreamReader, stop: asyncio.Event) -> None:
        """Read events until the connection ends, each sent and acknowledged before the next is
        read (a call centre's queue events come a few per call: no batching needed)."""
        while not stop.is_set():
            frame = await unless_stopped(stop, read_frame(reader))
            if frame is None:
                return
            headers, body = frame
            await self._send(self._event(headers, body), stop)

    def _event(self, headers: dict[str, str], body: bytes) -> list[Addressed]:
        if headers.get("Content-Type") != "text/event-json":
            if headers.get("Content-Type") == "text/disconnect-notice":
                raise ConnectionError("FreeSWITCH closed the event socket")
            return []
        try:
            docs: list[JsonObject] = freeswitch.events(json.loads(body), self.lookups)
        except (Unmappable, ValueError) as exc:
            self.skipped += 1
            log.warning("skipped an event: %s", exc)
            return []
        ready, refused = address(docs, self.limits, None)
        for refusal in refused:
            self.skipped += 1
            log.warning("skipped an event (%s): %s", refusal.reason, refusal.detail)
        return ready

    async def _send(self, events: list[Addressed], stop: asyncio.Event) -> None:
        if not events:
            return
        if not await self.sink.send_patiently(events, stop, f"{len(events)} events"):
            return
        self.sent += len(events)
        if self.on_batch is not None:
            self.on_batch(len(events))
