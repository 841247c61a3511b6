"""``cxpulse plan``: the next hours per queue, as a workforce planner's intraday view.

For each queue and channel and each forecast interval: contacts forecast, the mean handle time,
agents needed on the phones (Erlang A) and on the rota (after shrinkage), agents on now and the
gap. It reads the forecast series workers export (``cxpulse_forecast_*``), so it needs nothing
but their ``/metrics``; or, with ``--history``, replays stored events and plans from them (for a
new install, or to see what a past day's plan would have been).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import click
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from streams.cli.common import load_settings
from streams.cli.top import DEFAULT_URL, Reader
from streams.settings import Settings


@dataclass
class Interval:
    contacts: float = 0.0
    handle: float | None = None
    required: float | None = None
    scheduled: float | None = None
    gap: float | None = None


@dataclass
class QueuePlan:
    """One queue and channel's next intervals, by offset in minutes from the current one."""

    intervals: dict[int, Interval] = field(default_factory=lambda: defaultdict(Interval))
    handle_sum: float = 0.0
    handle_count: float = 0.0

    @property
    def handle_seconds(self) -> float | None:
        return self.handle_sum / self.handle_count if self.handle_count else None


_FIELDS = {
    "cxpulse_forecast_contacts": "contacts",
    "cxpulse_forecast_handle_seconds": "handle",
    "cxpulse_forecast_required_agents": "required",
    "cxpulse_forecast_scheduled_agents": "scheduled",
    "cxpulse_forecast_staffing_gap_agents": "gap",
}


def plans(texts: Iterable[str]) -> dict[tuple[str, str], QueuePlan]:
    """Each queue and channel's forecast, from ``/metrics`` texts (each queue comes from one worker)."""
    out: dict[tuple[str, str], QueuePlan] = defaultdict(QueuePlan)
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                name, labels = sample.name, sample.labels
                where = (labels.get("queue", ""), labels.get("channel", ""))
                if name in _FIELDS:
                    offset = int(labels["interval"].strip("+m"))
                    setattr(out[where].intervals[offset], _FIELDS[name], sample.value)
                elif name == "cxpulse_call_handle_seconds_sum":
                    out[where].handle_sum += sample.value
                elif name == "cxpulse_call_handle_seconds_count":
                    out[where].handle_count += sample.value
    return {key: plan for key, plan in out.items() if plan.intervals}


def _agents(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


COLUMNS = ("queue", "channel", "from", "contacts", "handle", "needed", "rota", "on now", "gap")


def render(found: dict[tuple[str, str], QueuePlan], now: float, interval_minutes: int) -> Table:
    """One table, a block of rows per queue and channel, one row per interval (times are this
    machine's local time; "needed" is agents on the phones, "rota" after shrinkage)."""
    table = Table(title=f"cxpulse plan — {datetime.fromtimestamp(now).strftime('%Y-%m-%d %H:%M')}")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("queue", "channel") else "right", no_wrap=True)
    start = now - now % (interval_minutes * 60)
    for (queue, channel), plan in sorted(found.items()):
        for i, offset in enumerate(sorted(plan.intervals)):
            row = plan.intervals[offset]
            handle = row.handle if row.handle is not None else plan.handle_seconds
            at = datetime.fromtimestamp(start + offset * 60).strftime("%H:%M")
            on_now = None if row.gap is None or row.required is None else row.required - row.gap
            gap = "" if row.gap is None else f"{row.gap:+.0f}"
            table.add_row(
                queue if i == 0 else "",
                channel if i == 0 else "",
                at,
                f"{row.contacts:.1f}",
                "" if handle is None or row.required is None else f"{handle:.0f} s",
                _agents(row.required),
                _agents(row.scheduled),
                _agents(on_now),
                gap,
            )
        table.add_section()
    return table


def _moment(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a time like 2026-12-07T09:40+01:00") from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no offset: add Z or +hh:mm")
    return moment.timestamp()


def _replayed(files: tuple[Path, ...], at: float | None, settings: Settings) -> tuple[str, float]:
    """The ``/metrics`` text a worker would serve at ``at`` (default: the last event) after the files."""
    from streams.replay.driver import Replay, run
    from streams.replay.sources import JsonLines

    replay = Replay(settings)
    run(replay, (record for record, _ in JsonLines(list(files)) if record is not None), 0, until=at)
    moment = at if at is not None else (replay.clock or time.time())
    return replay.text(moment), moment


@click.command()
@click.argument("urls", nargs=-1)
@click.option(
    "--history",
    "files",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Plan from stored events (JSON Lines, repeatable) instead of workers' /metrics.",
)
@click.option("--at", "at_text", help="With --history: plan as of this time (default: the last event).")
@click.option("--user", help="Basic-auth user for /metrics (password from CXPULSE_TOP_PASSWORD).")
@click.option("--cafile", type=click.Path(exists=True, dir_okay=False), help="CA file for https workers.")
def plan(
    urls: tuple[str, ...],
    files: tuple[Path, ...],
    at_text: str | None,
    user: str | None,
    cafile: str | None,
) -> None:
    """The next hours per queue: contacts forecast, agents needed, the rota and the gap.

    \b
    From running workers (default http://127.0.0.1:6066/metrics):
      cxpulse plan http://worker-1:6066/metrics http://worker-2:6066/metrics
    From stored events, as of a moment:
      cxpulse plan --history events.jsonl --at 2026-12-07T09:40+01:00
    The forecast is the mean of the same interval in recent weeks (docs/kpis.md, "Arrivals
    forecast"); a queue shows once the history covers today's weekday.
    """
    settings = load_settings()  # CXPULSE_* settings: the interval, the weeks, the policy
    minutes = settings.forecast_interval_minutes
    if files:
        click.echo(f"replaying {', '.join(str(f) for f in files)} ...", err=True)
        text, now = _replayed(files, _moment(at_text), settings)
        texts = [text]
    else:
        reader = Reader(list(urls) or [DEFAULT_URL], user, cafile, timeout=10.0)
        texts, errors = reader.texts()
        now = time.time()
        if errors and not texts:
            raise click.ClickException(
                "no worker could be read: " + "; ".join(errors) + " (check the URLs, --user and --cafile)"
            )
        for error in errors:
            click.echo(f"warning: {error}: its queues are missing", err=True)
    found = plans(texts)
    if not found:
        raise click.ClickException(
            "no forecast yet: a queue is forecast once its arrival history covers today's weekday "
            f"(CXPULSE_FORECAST_WEEKS={settings.forecast_weeks} weeks are kept); replay stored events "
            "with --history to plan from them"
        )
    Console().print(render(found, now, minutes))
