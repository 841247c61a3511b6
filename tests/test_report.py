"""``cxpulse report``: interval rows from totals, from a history file and from a real Prometheus
holding the same history, rendered in a real browser."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from helpers import event, wait_for
from prometheus_server import PrometheusServer
from replay_run import replay, write_jsonl

from streams.cli.main import main
from streams.report.intervals import boundaries, rows
from streams.simulator.traffic import Traffic

PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


def test_a_row_is_what_the_totals_gained_between_its_boundaries() -> None:
    moments = boundaries(date(2026, 12, 7), date(2026, 12, 7), PARIS)
    assert len(moments) == 97 and moments[0] == at("2026-12-07T00:00")
    zero = {"billing": {}}
    nine = {"billing": {"calls_offered": 10, "calls_short_abandoned": 1, "tickets_open": 4}}
    half = {
        "billing": {
            "calls_offered": 30, "calls_answered": 16, "calls_answered_within_sla": 12, "calls_abandoned": 2,
            "calls_short_abandoned": 2, "call_wait_seconds_sum": 300.0, "call_wait_seconds_count": 16,
            "calls_handled": 4, "call_handle_seconds_sum": 1000.0, "call_handle_seconds_count": 4,
            "tickets_open": 7,
        }
    }  # fmt: skip
    totals = [zero] * 36 + [nine, nine, half] + [half] * 58
    found = rows(moments, totals, 30, PARIS)
    assert len(found) == 48
    nine_to_half_past = found[18]
    assert (nine_to_half_past.label, nine_to_half_past.offered, nine_to_half_past.answered) == (
        "2026-12-07 09:00",
        20,
        16,
    )
    assert nine_to_half_past.service_level == 12 / (20 - 1)  # short abandons are out of the denominator
    assert (nine_to_half_past.asa_seconds, nine_to_half_past.aht_seconds) == (300 / 16, 250.0)
    assert (nine_to_half_past.abandoned, nine_to_half_past.backlog) == (2, 7)
    # 08:30: ten calls offered (one a short abandon), none answered in time: 0 of 9.
    assert (found[17].offered, found[17].service_level, found[17].backlog) == (10, 0.0, 4)
    assert found[19].offered == 0 and found[19].service_level is None  # 09:30: nothing more


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, ["report", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout  # the CSV (progress goes to standard error)


def test_a_history_report_counts_each_interval_in_local_time(tmp_path: Path) -> None:
    """Calls and tickets of a Paris morning, each interval worked out by hand."""
    events = [
        event("call.queued", "C1", at("2026-12-07T09:05"), "billing", "phone"),
        event("call.answered", "C1", at("2026-12-07T09:05:10"), "billing", "phone", agent_id="a1"),
        event("ticket.created", "T1", at("2026-12-07T09:10"), "billing", "email"),
        event("call.queued", "C2", at("2026-12-07T09:20"), "billing", "phone"),
        event("call.answered", "C2", at("2026-12-07T09:20:50"), "billing", "phone", agent_id="a2"),
        event("call.ended", "C1", at("2026-12-07T09:25:10"), "billing", "phone", agent_id="a1"),
        event("call.queued", "C3", at("2026-12-07T09:40"), "billing", "phone"),
        event("call.abandoned", "C3", at("2026-12-07T09:41"), "billing", "phone"),
        event(
            "ticket.replied", "T1", at("2026-12-07T09:50"), "billing", "email", author="agent", agent_id="a3"
        ),
        event("call.ended", "C2", at("2026-12-07T09:50:50"), "billing", "phone", agent_id="a2"),
        event("ticket.resolved", "T1", at("2026-12-07T10:05"), "billing", "email", agent_id="a3"),
    ]
    history = write_jsonl(tmp_path / "morning.jsonl", events)
    out = tmp_path / "report.csv"
    cli("--history", str(history), "--day", "2026-12-07", "--zone", "Europe/Paris", "--csv", str(out))
    found = {r["interval_start"]: r for r in csv.DictReader(out.open())}
    assert len(found) == 48
    first, second, third = (found[f"2026-12-07T{t}:00+01:00"] for t in ("09:00", "09:30", "10:00"))
    assert {k: first[k] for k in ("offered", "answered", "abandoned", "service_level", "asa_seconds")} == {
        "offered": "2", "answered": "2", "abandoned": "0", "service_level": "0.5000", "asa_seconds": "30.0",
    }  # fmt: skip
    assert (first["aht_seconds"], first["tickets_created"], first["backlog"]) == ("1200.0", "1", "1")
    assert {k: second[k] for k in ("offered", "answered", "abandoned", "service_level", "aht_seconds")} == {
        "offered": "1", "answered": "0", "abandoned": "1", "service_level": "0.0000", "aht_seconds": "1800.0",
    }  # fmt: skip
    assert (second["first_responses"], second["first_response_seconds"], second["backlog"]) == (
        "1",
        "2400.0",
        "1",
    )
    assert (third["tickets_resolved"], third["backlog"], third["offered"]) == ("1", "0", "0")
    assert found["2026-12-07T08:30:00+01:00"]["offered"] == "0"


@pytest.fixture(scope="module")
def a_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, date]:
    """Simulated traffic over the last whole day in Paris (from an hour before it to a quarter-hour
    after it), and that day."""
    tmp = tmp_path_factory.mktemp("a-day")
    day = datetime.fromtimestamp(time.time() - 3600, PARIS).date() - timedelta(days=1)
    start = datetime.combine(day, datetime.min.time(), PARIS).timestamp() - 3600
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), PARIS).timestamp() + 900
    events = [ev for _, _, ev in Traffic(start=start, rate=0.05, seed=11).until(end)]
    return write_jsonl(tmp / "history.jsonl", events), day


def parsed(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_report_from_prometheus_is_the_report_from_the_history(a_day, tmp_path: Path) -> None:
    """The history backfilled into a real Prometheus (as docs/backfill.md does it), then reported
    from its API: the same rows as from the history itself."""
    history, day = a_day
    data = tmp_path / "data"
    replay([str(history), "--prometheus-data", str(data)], {})
    prometheus = PrometheusServer(tmp_path, targets=[], data=data).start()
    try:
        noon = datetime.combine(day, datetime.min.time(), PARIS).timestamp() + 12 * 3600
        wait_for(
            lambda: prometheus.api("query", query="cxpulse_calls_offered_total", time=str(noon))["data"][
                "result"
            ],
            30,
            what="backfilled samples to be queryable",
        )
        url = f"http://127.0.0.1:{prometheus.port}"
        args = ["--day", day.isoformat(), "--zone", "Europe/Paris", "--interval", "15"]
        from_prometheus = parsed(cli("--prometheus", url, *args))
    finally:
        prometheus.stop()
    from_history = parsed(cli("--history", str(history), *args))
    assert len(from_history) == 96 * len({r["queue"] for r in from_history}) > 0
    assert sum(int(r["offered"]) for r in from_history) > 100
    assert [r["interval_start"] for r in from_prometheus] == [r["interval_start"] for r in from_history]
    for got, want in zip(from_prometheus, from_history, strict=True):
        for column, value in want.items():
            if value and "." in value:  # a mean or a ratio: sums taken in another order
                assert float(got[column]) == pytest.approx(float(value), abs=0.051), (column, want)
            else:
                assert got[column] == value, (column, want)


def test_the_html_report_renders_its_tables_and_charts_in_a_real_browser(a_day, tmp_path: Path) -> None:
    history, day = a_day
    page = tmp_path / "report.html"
    cli("--history", str(history), "--day", day.isoformat(), "--zone", "Europe/Paris", "--html", str(page))
    browser = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    dom = browser.stdout
    sections = re.findall(r'<section data-queue="([^"]+)">', dom)
    assert sections and len(sections) == len(set(sections))
    for queue in sections:
        part = dom.split(f'<section data-queue="{queue}">', 1)[1].split("</section>", 1)[0]
        assert len(re.findall(r"<tr>", part)) == 1 + 48  # the header and a row per half-hour
        assert len(re.findall(r'<rect class="offered"', part)) == 48
        assert len(re.findall(r'<rect class="answered"', part)) == 48
    assert '<polyline class="service-level" points="' in dom  # at least one queue answered calls
    screenshot = tmp_path / "report.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900", f"--screenshot={screenshot}",
         page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert screenshot.stat().st_size > 10_000  # drawn, not blank


def test_the_report_says_what_to_give_when_its_source_is_missing_or_doubled(tmp_path: Path) -> None:
    history = write_jsonl(tmp_path / "h.jsonl", [event("ticket.created", "T1", at("2026-12-07T09:10"))])
    for args in ([], ["--prometheus", "http://127.0.0.1:1", "--history", str(history)]):
        result = CliRunner().invoke(main, ["report", "--day", "2026-12-07", *args])
        assert result.exit_code == 2 and "give --prometheus URL or --history FILE" in result.output
    result = CliRunner().invoke(main, ["report", "--history", str(history), "--zone", "Mars/Olympus"])
    assert result.exit_code == 2 and "is no time zone; give one like Europe/Paris" in result.output
    result = CliRunner().invoke(main, ["report", "--prometheus", "http://127.0.0.1:1", "--day", "2026-12-07"])
    assert result.exit_code == 1 and "cannot read http://127.0.0.1:1" in result.output
