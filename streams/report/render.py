"""An interval report written out: CSV for spreadsheets and WFM tools, and one self-contained HTML
page (tables and SVG charts, no script and nothing fetched) that a supervisor can mail or print."""

from __future__ import annotations

import csv
import html
from collections.abc import Sequence
from itertools import groupby
from typing import IO

from streams.report.intervals import Row

COLUMNS = (
    "queue",
    "interval_start",
    "interval_end",
    "offered",
    "answered",
    "abandoned",
    "service_level",
    "asa_seconds",
    "aht_seconds",
    "tickets_created",
    "first_responses",
    "first_response_seconds",
    "first_response_breaches",
    "tickets_resolved",
    "backlog",
)


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_csv(rows: Sequence[Row], out: IO[str]) -> None:
    """One line per queue and interval; times in the report's zone with their offset, ratios 0–1,
    times in seconds, an empty cell where nothing was there to measure."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.queue,
                row.start.isoformat(),
                row.end.isoformat(),
                row.offered,
                row.answered,
                row.abandoned,
                _number(row.service_level, 4),
                _number(row.asa_seconds, 1),
                _number(row.aht_seconds, 1),
                row.tickets_created,
                row.first_responses,
                _number(row.first_response_seconds, 1),
                row.first_response_breaches,
                row.tickets_resolved,
                row.backlog,
            ]
        )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin-top: 0.8em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
svg text { font-size: 11px; fill: #444; }
.offered { fill: #9bbbe0; } .answered { fill: #2e6fb7; }
.service-level { fill: none; stroke: #d9822b; stroke-width: 2; }
.legend span { display: inline-block; margin-right: 1.5em; }
"""

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 960, 240, 44, 24, 10


def _chart(queue: str, rows: Sequence[Row]) -> str:
    """Calls offered and answered per interval (bars) and the service level (line, right scale)."""
    n = len(rows)
    plot_w, plot_h = WIDTH - LEFT - 44, HEIGHT - BOTTOM - TOP
    band = plot_w / max(n, 1)
    peak = max([r.offered for r in rows] + [1])
    name = html.escape(queue)
    parts = [
        f'<svg class="chart" data-queue="{name}" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="calls and service level, {name}">'
    ]
    for frac in (0.0, 0.5, 1.0):  # left scale: calls; right scale: service level
        y = TOP + plot_h * (1 - frac)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{round(peak * frac)}</text>')
        parts.append(f'<text x="{LEFT + plot_w + 6}" y="{y + 4:.1f}">{frac:.0%}</text>')
    points = []
    for i, row in enumerate(rows):
        x = LEFT + i * band
        for cls, value, inset in (("offered", row.offered, 0.1), ("answered", row.answered, 0.3)):
            h = plot_h * value / peak
            parts.append(
                f'<rect class="{cls}" x="{x + band * inset:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{band * (1 - 2 * inset):.1f}" height="{h:.1f}"><title>{row.label}: {value} {cls}'
                "</title></rect>"
            )
        if row.service_level is not None:
            points.append(f"{x + band / 2:.1f},{TOP + plot_h * (1 - row.service_level):.1f}")
        if row.start.minute == 0 and row.start.hour % 3 == 0:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}">{row.start:%H:%M}</text>')
    if points:
        parts.append(f'<polyline class="service-level" points="{" ".join(points)}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _cell(value: float | None, digits: int, scale: float = 1.0, suffix: str = "") -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}{suffix}"


def _table(rows: Sequence[Row]) -> str:
    head = (
        "<tr><th>interval</th><th>offered</th><th>answered</th><th>abandoned</th><th>service level</th>"
        "<th>ASA</th><th>AHT</th><th>tickets created</th><th>first replies</th><th>first reply (mean)</th>"
        "<th>late first replies</th><th>resolved</th><th>backlog</th></tr>"
    )
    body = "".join(
        f"<tr><td>{row.start:%H:%M}–{row.end:%H:%M}</td><td>{row.offered}</td><td>{row.answered}</td>"
        f"<td>{row.abandoned}</td><td>{_cell(row.service_level, 1, 100, ' %')}</td>"
        f"<td>{_cell(row.asa_seconds, 0, suffix=' s')}</td><td>{_cell(row.aht_seconds, 0, suffix=' s')}</td>"
        f"<td>{row.tickets_created}</td><td>{row.first_responses}</td>"
        f"<td>{_cell(row.first_response_seconds, 0, suffix=' s')}</td><td>{row.first_response_breaches}</td>"
        f"<td>{row.tickets_resolved}</td><td>{row.backlog}</td></tr>"
        for row in rows
    )
    return f'<table class="intervals">{head}{body}</table>'


def write_html(rows: Sequence[Row], title: str, out: IO[str]) -> None:
    """The page: per queue and day, a chart and the table of its intervals."""
    sections = []
    for (queue, day), group in groupby(rows, key=lambda r: (r.queue, r.start.date())):
        mine = list(group)
        offered = sum(r.offered for r in mine)
        sections.append(
            f'<section data-queue="{html.escape(queue)}"><h2>{html.escape(queue)} — {day:%A %d %B %Y}: '
            f"{offered} calls offered</h2>"
            '<p class="legend"><span>bars: calls offered (light), answered (dark)</span>'
            "<span>line: service level (right scale)</span></p>"
            f"{_chart(queue, mine)}{_table(mine)}</section>"
        )
    out.write(
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"{''.join(sections) or '<p>No queue had any contact in this period.</p>'}</body></html>\n"
    )
