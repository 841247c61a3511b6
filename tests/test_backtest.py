"""The alert backtest (bench/backtest.py) end to end at its smallest setting: one simulated week
of the small centre, replayed into a real Prometheus, the shipped rules and the earlier ones
evaluated over it. Its full run (two centres, four weeks after two of history) is a benchmark,
with its figures in docs/operations.md; this keeps the tool working and its output's shape."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

FIGURES = ("detected_ratio", "median_detection_minutes", "false_pages_per_week", "pages_while_closed")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs Prometheus (Debian package prometheus)")
def test_a_week_of_the_small_centre_is_scored_for_the_rules_and_the_baseline(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    args = ["--profiles", "small", "--weeks", "1", "--warmup", "0", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, "bench/backtest.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    for part in (figures, figures["baseline"]):
        assert set(FIGURES) <= set(part)
    small = figures["centres"]["small"]
    # The first week holds the first escalation surge and the abandon spike; both are caught,
    # soon after they begin, and nothing pages while the floor is closed.
    assert [(i["incident"], i["queue"]) for i in small["incidents"]] == [
        ("escalation surge", "billing"),
        ("abandon spike: too few agents", "tech-support"),
    ]
    assert small["detected_ratio"] == figures["detected_ratio"] == 1.0
    assert all(0 <= i["minutes"] <= 20 for i in small["incidents"]), small["incidents"]
    assert small["incidents"][0]["first"] == "CxpulseEscalationRateRising"
    assert small["incidents"][1]["first"] == "CxpulseAbandonmentRateHigh"
    assert "CxpulseUnderstaffed" not in {i["first"] for i in small["incidents"]}
    assert figures["pages_while_closed"] == 0
    assert "incidents caught" in done.stdout and "false pages per week" in done.stdout


def test_the_backtest_replays_what_the_alerts_read_and_no_histogram_bucket() -> None:
    """The replay writes only the exported series the alerts of both rule sets read, directly
    or through recordings: each is one the shipped rules read, and the earlier rules find
    theirs there too."""
    sys.path.insert(0, str(ROOT / "bench"))
    import backtest

    from metrics.export.cadence import RULES, read_by

    written = set(backtest.exported_read(backtest.load_rules([*backtest.RULES, backtest.BASELINE])))
    assert {"cxpulse_events_total", "cxpulse_calls_abandoned_total", "cxpulse_queue_open"} <= written
    assert written <= read_by(RULES)
    assert not any(name.endswith("_bucket") for name in written)
    earlier = set(backtest.exported_read(backtest.load_rules([backtest.BASELINE])))
    assert len(earlier) > 10
    assert earlier <= written
