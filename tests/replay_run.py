"""Run ``cxpulse replay`` as a user would, and read back what it wrote."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
from click.testing import CliRunner

from streams.cli.main import main

_LABEL = re.compile(r'(\w+)="((?:[^"\\\\]|\\\\.)*)"')


def write_jsonl(path: Path, events: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(ev) + b"\n" for ev in events))
    return path


def replay(args: list[str], env: dict[str, str]) -> str:
    """The command's terminal output; fails the test with it if the command fails."""
    result = CliRunner().invoke(main, ["replay", "--quiet", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def samples_at(path: Path, at: float | None = None) -> dict:
    """``(name, labels) -> value`` at the snapshot nearest ``at`` (default: the last): each
    series' latest sample up to then, for the series that run on to then or later (a replay
    writes a series when it changes, as often as queries need, and at its first and last step)."""
    points: dict[tuple, list[tuple[float, float]]] = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        series, value, timestamp = line.rsplit(" ", 2)
        name, _, inner = series.partition("{")
        labels = frozenset((k, v.replace('\\"', '"')) for k, v in _LABEL.findall(inner))
        points.setdefault((name, labels), []).append((float(timestamp), float(value)))
    times = {t for series in points.values() for t, _ in series}
    moment = max(times) if at is None else min(times, key=lambda t: abs(t - at))
    found = {}
    for key, series in points.items():
        before = [(t, v) for t, v in series if t <= moment]
        if before and max(series)[0] >= moment:
            found[key] = max(before)[1]
    return found
