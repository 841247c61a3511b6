"""Run ``cxpulse replay`` as a user would, and read back what it wrote."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
from click.testing import CliRunner

from streams.tools.cli import main

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
    """``(name, labels) -> value`` of the snapshot taken at ``at`` (default: the last one)."""
    by_time: dict[float, dict] = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        series, value, timestamp = line.rsplit(" ", 2)
        name, _, inner = series.partition("{")
        labels = frozenset((k, v.replace('\\"', '"')) for k, v in _LABEL.findall(inner))
        by_time.setdefault(float(timestamp), {})[(name, labels)] = float(value)
    moment = max(by_time) if at is None else min(by_time, key=lambda t: abs(t - at))
    return by_time[moment]
