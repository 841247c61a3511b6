"""``cxpulse top``: a live wallboard in the terminal, read from workers' ``/metrics`` (and ``/agents``).

For a supervisor on an SSH session or a screen without Grafana: one row per queue with what the
floor is doing now (callers waiting, the longest wait, service level against target, agents by
state, the Erlang C staffing gap, tickets awaiting a first reply) and the day so far (calls
offered, service level), refreshed every second. It
reads the same series Prometheus scrapes, so it needs nothing but network access to the workers;
with several workers it adds up their shares (each queue is exported by one worker at a time).
A key switches to the agents view (:mod:`streams.cli.top_agents`), one row per agent.
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import ssl
import sys
import termios
import time
import tty
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import click
import orjson
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from metrics.definitions import AGENT_STATES
from metrics.documents import JsonObject
from metrics.policy import DEFAULTS
from streams.cli.top_agents import AGENTS_LEGEND, SORTS, agents_from, agents_table, duration

DEFAULT_URL = "http://127.0.0.1:6066/metrics"
WINDOW = "15m"


@dataclass
class QueueNow:
    """One queue's figures, summed over its channels and the workers that export them."""

    waiting: float = 0.0
    longest_wait: float = 0.0
    within: float = 0.0  # calls answered within the threshold, 15 min
    offered: float = 0.0  # calls offered minus short abandons, 15 min
    agents: dict[str, float] = field(default_factory=lambda: dict.fromkeys(AGENT_STATES, 0.0))
    required: float | None = None
    gap: float | None = None
    new_tickets: float = 0.0
    oldest_new: float = 0.0
    open_tickets: float = 0.0
    # Today so far, from the queue's own day start: calls offered, and the service level's terms.
    offered_today: float = 0.0
    within_today: float = 0.0
    short_today: float = 0.0
    # The queue's own targets, as its workers export them from their settings.
    target: float = DEFAULTS.service_level_target
    threshold: float = DEFAULTS.service_level_seconds
    is_open: bool = True

    @property
    def service_level(self) -> float | None:
        return self.within / self.offered if self.offered > 0 else None

    @property
    def service_level_today(self) -> float | None:
        counted = self.offered_today - self.short_today
        return self.within_today / counted if counted > 0 else None


@dataclass
class Scrape:
    queues: dict[str, QueueNow]
    events: float  # cxpulse_events_total over all workers
    errors: list[str]  # one line per worker that did not answer
    at: float


def _add(value: float | None, more: float) -> float:
    return more if value is None else value + more


def summarise(texts: Iterable[str]) -> tuple[dict[str, QueueNow], float]:
    """Queue figures and the events counted, from ``/metrics`` texts of one or more workers."""
    queues: dict[str, QueueNow] = defaultdict(QueueNow)
    events = 0.0
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                name, labels, value = sample.name, sample.labels, sample.value
                if name == "cxpulse_events_total":
                    events += value
                    continue
                queue = labels.get("queue")
                if queue is None or labels.get("window", WINDOW) != WINDOW:
                    continue
                q = queues[queue]
                if name == "cxpulse_calls_waiting":
                    q.waiting += value
                elif name == "cxpulse_longest_call_wait_seconds":
                    q.longest_wait = max(q.longest_wait, value)
                elif name == "cxpulse_window_calls_answered_within_sla":
                    q.within += value
                elif name == "cxpulse_window_calls_offered":
                    q.offered += value
                elif name == "cxpulse_window_calls_short_abandoned":
                    q.offered -= value
                elif name == "cxpulse_agents" and labels.get("state") in q.agents:
                    q.agents[labels["state"]] += value
                elif name == "cxpulse_required_agents":
                    q.required = _add(q.required, value)
                elif name == "cxpulse_staffing_gap_agents":
                    q.gap = _add(q.gap, value)
                elif name == "cxpulse_tickets_open_by_status" and labels.get("status") == "new":
                    q.new_tickets += value
                elif name == "cxpulse_oldest_unanswered_ticket_age_seconds":
                    q.oldest_new = max(q.oldest_new, value)
                elif name == "cxpulse_tickets_open":
                    q.open_tickets += value
                elif name == "cxpulse_service_level_target_ratio":
                    q.target = value
                elif name == "cxpulse_service_level_threshold_seconds":
                    q.threshold = value
                elif name == "cxpulse_queue_open":
                    q.is_open = value == 1
                elif name == "cxpulse_today_calls_offered":
                    q.offered_today += value
                elif name == "cxpulse_today_calls_answered_within_sla":
                    q.within_today += value
                elif name == "cxpulse_today_calls_short_abandoned":
                    q.short_today += value
    return dict(queues), events


class Reader:
    """Fetches ``/metrics`` from each URL, with basic auth and a CA file if the workers need them."""

    def __init__(self, urls: list[str], user: str | None, cafile: str | None, timeout: float) -> None:
        self.urls = urls
        self.timeout = timeout
        self.headers: dict[str, str] = {}
        if user is not None:
            password = os.environ.get("CXPULSE_TOP_PASSWORD", "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.context = ssl.create_default_context(cafile=cafile) if cafile else None

    def read(self) -> Scrape:
        texts, errors = self.texts()
        queues, events = summarise(texts)
        return Scrape(queues, events, errors, time.time())

    def agents(self) -> tuple[list[JsonObject], list[str]]:
        """Each worker's ``/agents`` answer (beside its ``/metrics``); a line for each that did not answer."""
        pages = [url.removesuffix("/metrics").rstrip("/") + "/agents" for url in self.urls]
        texts, errors = self.texts(pages)
        return [orjson.loads(text) for text in texts], errors

    def texts(self, urls: list[str] | None = None) -> tuple[list[str], list[str]]:
        """Each worker's ``/metrics`` text, and a line for each worker that did not answer."""
        texts, errors = [], []
        for url in self.urls if urls is None else urls:
            request = urllib.request.Request(url, headers=self.headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as answer:
                    texts.append(answer.read().decode())
            except OSError as exc:  # URLError, HTTPError, timeouts, refused connections
                errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
        return texts, errors


def _coloured(text: str, good: bool | None) -> Text:
    return Text(text, style="" if good is None else ("green" if good else "bold red"))


def _staffing(gap: float | None) -> Text:
    """Required minus staffed agents in words: "2 short" (red), "3 spare", or "0"."""
    if gap is None:
        return Text("-")
    count = round(abs(gap))
    if count == 0:
        return _coloured("0", True)
    return _coloured(f"{count} short", False) if gap > 0 else _coloured(f"{count} spare", True)


LEGEND = (
    "need: agents the last 15 min needed (Erlang C, within the service-level target); "
    "short/spare: need minus agents logged in and not away; today: since the queue's day began "
    "(CXPULSE_DAY_START_HOUR, in its zone)"
)


def render(
    now: Scrape,
    rate: float | None,
    target: float | None,
    threshold: float | None,
    urls: int,
    live: bool = True,
) -> Group:
    """The screen: a header line, the queue table, and any worker that did not answer.

    Each queue is coloured against its own target and threshold unless ``target`` or
    ``threshold`` overrides them; a closed queue is marked and left uncoloured."""
    table = Table(expand=True, header_style="bold")
    for column in ("queue", "waiting", "longest", "SL 15m", "avail", "busy", "wrap", "away", "need",
                   "short/spare", "new tickets", "oldest new", "open",
                   "calls today", "SL today"):  # fmt: skip
        if column == "queue":  # a queue's name whole, on one line: the other columns narrow first
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right")
    for name in sorted(now.queues):
        q = now.queues[name]
        level = q.service_level
        aim = q.target if target is None else target
        limit = q.threshold if threshold is None else threshold
        judged = q.is_open or None  # None: no colour (a closed queue is not judged)
        good_level = None if level is None else judged and level >= aim
        today = q.service_level_today
        table.add_row(
            name if q.is_open else Text(f"{name} (closed)", style="dim"),
            _coloured(f"{q.waiting:.0f}", judged and (q.waiting == 0 if q.waiting <= 5 else False)),
            _coloured(duration(q.longest_wait), judged and q.longest_wait <= limit),
            _coloured("-" if level is None else f"{level:.0%}", good_level),
            *(f"{q.agents[state]:.0f}" for state in AGENT_STATES),
            "-" if q.required is None else f"{q.required:.0f}",
            _staffing(q.gap),
            f"{q.new_tickets:.0f}",
            duration(q.oldest_new),
            f"{q.open_tickets:.0f}",
            f"{q.offered_today:.0f}",
            _coloured("-" if today is None else f"{today:.0%}", None if today is None else today >= aim),
        )
    clock = time.strftime("%H:%M:%S", time.localtime(now.at))
    answering = urls - len(now.errors)
    flow = "" if rate is None else f"   {rate:,.0f} events/s"
    quits = "   a: agents   q or Ctrl-C quits" if live else ""
    header = Text(f"cxpulse top   {clock}   {answering}/{urls} workers{flow}{quits}", style="bold")
    parts: list = [header, table, Text(LEGEND, style="dim")]
    if not now.queues and not now.errors:
        parts.append(Text("no queue exported yet: are events arriving?", style="yellow"))
    parts += [Text(line, style="red") for line in now.errors]
    return Group(*parts)


def render_agents(
    documents: list[JsonObject], errors: list[str], by: str, away_limit: float, urls: int, live: bool = True
) -> Group:
    """The agents screen: a header line, one row per agent, and any worker that did not answer."""
    agents = agents_from(documents)
    clock = time.strftime("%H:%M:%S", time.localtime())
    keys = "   a: queues  s: sort  q: quit" if live else ""
    header = Text(
        f"cxpulse top · agents   {clock}   {urls - len(errors)}/{urls} workers   {len(agents)} agents{keys}",
        style="bold",
    )
    parts: list = [header, agents_table(agents, by, away_limit), Text(AGENTS_LEGEND, style="dim")]
    if not agents and not errors:
        parts.append(Text("no agent to show yet: are agent events arriving?", style="yellow"))
    parts += [Text(line, style="red") for line in errors]
    return Group(*parts)


class Keys:
    """Single key presses from the terminal, without Enter or echo, while the screen refreshes;
    nothing when stdin is not a terminal (a pipe, a script)."""

    def __init__(self) -> None:
        self.fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
        self._saved: list | None = None

    def __enter__(self) -> Keys:
        if self.fd is not None:
            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None and self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def wait(self, seconds: float) -> str | None:
        """The key pressed within ``seconds``, or None when the time ran out first."""
        if self.fd is None:
            time.sleep(max(0.0, seconds))
            return None
        ready, _, _ = select.select([self.fd], [], [], max(0.0, seconds))
        if not ready:
            return None
        with contextlib.suppress(OSError):
            return os.read(self.fd, 1).decode(errors="replace")
        return None


@click.command()
@click.argument("urls", nargs=-1)
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Print one screen and exit (for scripts and logs).")
@click.option(
    "--user", help="Basic-auth user of the workers' /metrics and /agents; password from CXPULSE_TOP_PASSWORD."
)
@click.option("--cafile", type=click.Path(exists=True, dir_okay=False), help="CA file for https:// workers.")
@click.option(
    "--target",
    type=float,
    help="Service-level target for every queue (colours SL 15m); default: each queue's own, as its "
    "workers export it (CXPULSE_SERVICE_LEVEL_TARGET and CXPULSE_QUEUE_SETTINGS).",
)
@click.option(
    "--threshold",
    type=float,
    help="Answer threshold in seconds for every queue (colours longest); default: each queue's own.",
)
@click.option(
    "--view",
    type=click.Choice(["queues", "agents"]),
    default="queues",
    show_default=True,
    help="The screen to start on; the a key switches between them.",
)
@click.option(
    "--sort",
    "sort_by",
    type=click.Choice(SORTS),
    default="time",
    show_default=True,
    help="Agents view order (time: longest in state first); the s key cycles through the orders.",
)
@click.option(
    "--away-minutes",
    type=click.FloatRange(min=0),
    default=15.0,
    show_default=True,
    help="Agents view: an agent away longer than this is shown in red.",
)
def top(
    urls: tuple[str, ...],
    interval: float,
    once: bool,
    user: str | None,
    cafile: str | None,
    target: float | None,
    threshold: float | None,
    view: str,
    sort_by: str,
    away_minutes: float,
) -> None:
    """A live wallboard in the terminal, from workers' /metrics (works over SSH).

    \b
    Give each worker's metrics URL (default http://127.0.0.1:6066/metrics):
      cxpulse top http://worker-1:6066/metrics http://worker-2:6066/metrics
    Per queue: callers waiting, the longest wait, service level over 15 minutes, agents by state,
    agents needed (Erlang C) and how many short or spare, tickets awaiting a first reply and the
    oldest. The a key switches to the agents view (each worker's /agents beside its /metrics):
    per agent its state and time in it, queues, calls and mean handle time today, occupancy over
    the last hour and missed offers; s changes the order, q quits. With --once, the exit status
    is 1 when a worker could not be read.
    """
    reader = Reader(list(urls) or [DEFAULT_URL], user, cafile, timeout=max(1.0, interval))
    console = Console()
    away_limit = away_minutes * 60

    def screen(live: bool, previous: Scrape | None) -> tuple[Group, Scrape | None, list[str]]:
        if view == "agents":
            documents, errors = reader.agents()
            return (
                render_agents(documents, errors, sort_by, away_limit, len(reader.urls), live),
                previous,
                errors,
            )
        now = reader.read()
        rate = None
        if previous is not None and now.events >= previous.events and not now.errors:
            rate = (now.events - previous.events) / max(1e-6, now.at - previous.at)
        return render(now, rate, target, threshold, len(reader.urls), live), now, now.errors

    if once:
        shown, _, errors = screen(False, None)
        console.print(shown)
        if errors:
            unread = len(errors)
            raise click.ClickException(
                f"{unread} of {len(reader.urls)} workers could not be read: the figures are incomplete"
                if unread < len(reader.urls)
                else "no worker could be read: check the URLs, and --user/--cafile if /metrics is protected"
            )
        return
    previous: Scrape | None = None
    try:
        with Keys() as keys, Live(console=console, screen=True, auto_refresh=False) as live:
            while True:
                started = time.time()
                shown, previous, _ = screen(True, previous)
                live.update(shown, refresh=True)
                key = keys.wait(interval - (time.time() - started))
                if key in ("q", "Q"):
                    break
                if key in ("a", "A", "\t"):
                    view = "agents" if view == "queues" else "queues"
                elif key in ("s", "S"):
                    sort_by = SORTS[(SORTS.index(sort_by) + 1) % len(SORTS)]
    except KeyboardInterrupt:
        pass
