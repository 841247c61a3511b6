"""``cxpulse report``: the interval report for a day or a range of days, as CSV and HTML."""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from streams.cli.common import load_settings, settings_options


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a day as 2026-12-07") from None


@click.command()
@click.option(
    "--prometheus",
    metavar="URL",
    help="Read the totals from this Prometheus server (its base URL, e.g. http://prometheus:9090).",
)
@click.option(
    "--history",
    "history",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Or replay these JSON Lines events (repeatable) through the engine, as cxpulse replay does.",
)
@click.option("--day", "first", help="The (first) day of the report, e.g. 2026-12-07 (default: today).")
@click.option("--to", "last", help="The last day of the report (default: the first).")
@click.option(
    "--interval", "minutes", type=click.Choice(["15", "30"]), default="30", show_default=True,
    help="Minutes per row.",
)  # fmt: skip
@click.option(
    "--zone",
    help="Time zone of the report's days and intervals (default: the calendar of every queue, "
    "CXPULSE_BUSINESS_HOURS '*', else UTC).",
)
@click.option("--queue", "queues", multiple=True, help="Only this queue (repeatable; default: all).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write CSV here.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write HTML here.")
@click.option("--user", help="Basic-auth user for --prometheus; password from CXPULSE_REPORT_PASSWORD.")
@click.option(
    "--cafile", type=click.Path(exists=True, dir_okay=False), help="CA file for an https:// Prometheus."
)
@settings_options
def report(
    prometheus: str | None,
    history: tuple[Path, ...],
    first: str | None,
    last: str | None,
    minutes: str,
    zone: str | None,
    queues: tuple[str, ...],
    csv_path: Path | None,
    html_path: Path | None,
    user: str | None,
    cafile: str | None,
    **options: Any,
) -> None:
    """The interval report: one row per queue per 15 or 30 minutes of local time, with calls
    offered, answered and abandoned, service level, ASA, AHT, tickets created, first replies (and
    their mean and breaches), resolved, and the backlog at each interval's end.

    From the Prometheus server that scrapes the workers, or from history replayed through the
    engine. Without --csv or --html the CSV goes to standard output.

    \b
      cxpulse report --prometheus http://127.0.0.1:9090 --day 2026-12-07 --html day.html
      cxpulse report --history events.jsonl --day 2026-12-01 --to 2026-12-07 --csv week.csv
    """
    from streams.report.intervals import boundaries, rows
    from streams.report.render import write_csv, write_html
    from streams.report.sources import HistoryTotals, PrometheusTotals

    if (prometheus is None) == (not history):
        raise click.UsageError("give --prometheus URL or --history FILE (one of them)")
    settings = load_settings(**options)
    where = _zone(zone, settings)
    start = _day(first) or datetime.now(where).date()
    end = _day(last) or start
    if end < start:
        raise click.BadParameter(f"--to {end} is before --day {start}")
    moments = boundaries(start, end, where)
    if prometheus is not None:
        source = PrometheusTotals(prometheus, user, os.environ.get("CXPULSE_REPORT_PASSWORD"), cafile)
        what = prometheus
    else:
        source = HistoryTotals(list(history), settings)
        what = ", ".join(p.name for p in history)
    click.echo(f"reading {len(moments)} quarter-hours of totals from {what} ...", err=True)
    try:
        found = rows(moments, source(moments), int(minutes), where)
    except OSError as exc:
        raise click.ClickException(f"cannot read {what}: {exc}") from exc
    if queues:
        found = [row for row in found if row.queue in queues]
    span = f"{start}" if start == end else f"{start} to {end}"
    title = f"cxpulse interval report — {span} ({where.key}, {minutes}-minute intervals)"
    if csv_path is not None:
        with open(csv_path, "w", encoding="utf-8", newline="") as out:
            write_csv(found, out)
    if html_path is not None:
        with open(html_path, "w", encoding="utf-8") as out:
            write_html(found, title, out)
    if csv_path is None and html_path is None:
        write_csv(found, sys.stdout)
    queues_found = len({row.queue for row in found})
    click.echo(f"{len(found)} rows for {queues_found} queues", err=True)


def _zone(name: str | None, settings: Any) -> ZoneInfo:
    if name is not None:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise click.BadParameter(f"{name!r} is no time zone; give one like Europe/Paris") from None
    return settings.policy().default.zone
