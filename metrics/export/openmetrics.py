"""Timestamped OpenMetrics text, for backfilling replayed history into Prometheus.

``promtool tsdb create-blocks-from openmetrics`` reads one file in which every metric
family's samples stand together, each sample carrying its timestamp, ending in ``# EOF``.
OpenMetrics also wants each series' points together, in time order. A replay produces its
samples snapshot by snapshot (all families at one moment), so the writer spools each family
to its own file and, when closed, orders one family at a time by series (a stable sort, so
time order holds): memory holds one family's history at most, never the whole file.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from prometheus_client.core import Metric


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _series(labels: dict[str, str]) -> str:
    """The key of one series' points: a histogram's buckets, count and sum share one point."""
    return ",".join(f"{k}={v}" for k, v in labels.items() if k != "le")


def format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def format_sample(name: str, labels: dict[str, str], value: float, at: float) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {format_value(value)} {at:.3f}\n"
    return f"{name} {format_value(value)} {at:.3f}\n"


class OpenMetricsWriter:
    """Collects families snapshot after snapshot; :meth:`close` writes the finished file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples = 0
        self._spool = Path(tempfile.mkdtemp(prefix="cxpulse-openmetrics-", dir=path.parent))
        self._files: dict[str, IO[str]] = {}
        self._headers: dict[str, str] = {}
        self._prefixes: dict[tuple[str, ...], str] = {}

    def add(self, families: Iterable[Metric], at: float) -> None:
        """Add every sample of ``families`` as measured at ``at`` (Unix seconds)."""
        for family in families:
            spool = self._files.get(family.name)
            if spool is None:
                spool = self._files[family.name] = open(  # noqa: SIM115
                    self._spool / f"{len(self._files)}.txt", "w", encoding="utf-8"
                )
                self._headers[family.name] = (
                    f"# HELP {family.name} {_escape_help(family.documentation)}\n"
                    f"# TYPE {family.name} {family.type}\n"
                )
            stamp = f" {at:.3f}\n"
            prefixes = self._prefixes
            lines = []
            for sample in family.samples:
                # The same series come back every snapshot: format each name and label set once.
                key = (sample.name, *sample.labels.values())
                prefix = prefixes.get(key)
                if prefix is None:
                    prefix = prefixes[key] = (
                        f"{_series(sample.labels)}\0{format_sample(sample.name, sample.labels, 0, 0)[:-8]}"
                    )
                lines.append(prefix + format_value(sample.value) + stamp)
            spool.writelines(lines)
            self.samples += len(lines)

    def close(self) -> int:
        """Write the file (families in first-seen order, then ``# EOF``); returns samples written."""
        try:
            with open(self.path, "w", encoding="utf-8") as out:
                for name, spool in self._files.items():
                    spool.close()
                    out.write(self._headers[name])
                    with open(spool.name, encoding="utf-8") as part:
                        lines = part.readlines()
                    lines.sort(key=lambda line: line[: line.index("\0")])
                    out.writelines(line[line.index("\0") + 1 :] for line in lines)
                out.write("# EOF\n")
        finally:
            for spool in self._files.values():
                spool.close()
            shutil.rmtree(self._spool, ignore_errors=True)
        return self.samples
