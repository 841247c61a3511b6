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
from collections.abc import Iterable, Sequence
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
        stamp = f" {at:.3f}\n"
        for family in families:
            spool = self._spool_for(family.name, family.documentation, family.type)
            lines = [self._line(s.name, s.labels, s.value, stamp) for s in family.samples]
            spool.writelines(lines)
            self.samples += len(lines)

    def _line(self, name: str, labels: dict[str, str], value: float, stamp: str) -> str:
        """One spooled sample: its series key, NUL, then the sample line."""
        # The same series come back every snapshot: format each name and label set once.
        key = (name, *labels.values())
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = self._prefixes[key] = f"{_series(labels)}\0{format_sample(name, labels, 0, 0)[:-8]}"
        return prefix + format_value(value) + stamp

    def sink(self, at: float) -> OpenMetricsSink:
        """A collector sink writing one snapshot at ``at`` straight into the spools (no families built)."""
        return OpenMetricsSink(self, at)

    def _spool_for(self, name: str, help_text: str, kind: str) -> IO[str]:
        spool = self._files.get(name)
        if spool is None:
            spool = self._files[name] = open(  # noqa: SIM115
                self._spool / f"{len(self._files)}.txt", "w", encoding="utf-8"
            )
            self._headers[name] = f"# HELP {name} {_escape_help(help_text)}\n# TYPE {name} {kind}\n"
        return spool

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


class _Family:
    __slots__ = ("label_names", "name", "spool")

    def __init__(self, name: str, label_names: Sequence[str], spool: IO[str]) -> None:
        self.name = name
        self.label_names = tuple(label_names)
        self.spool = spool


class OpenMetricsSink:
    """A snapshot written by :meth:`metrics.export.collector.KpiCollector.emit` straight into the
    writer: the same lines :meth:`OpenMetricsWriter.add` writes for the same families, without
    building them (a replay takes a snapshot of every series each minute of event time)."""

    def __init__(self, writer: OpenMetricsWriter, at: float) -> None:
        self._writer = writer
        self._stamp = f" {at:.3f}\n"

    def family(self, name: str, help_text: str, kind: str, labels: Sequence[str]) -> _Family:
        base = name.removesuffix("_total") if kind == "counter" else name
        spool = self._writer._spool_for(base, help_text, kind)
        return _Family(base + "_total" if kind == "counter" else base, labels, spool)

    def sample(self, family: _Family, labels: Sequence[str], value: float) -> None:
        plain = dict(zip(family.label_names, labels, strict=True))
        family.spool.write(self._writer._line(family.name, plain, value, self._stamp))
        self._writer.samples += 1

    def histogram(
        self, family: _Family, labels: Sequence[str], buckets: list[tuple[str, float]], total: float
    ) -> None:
        line, stamp, name = self._writer._line, self._stamp, family.name
        plain = dict(zip(family.label_names, labels, strict=True))
        lines = [line(name + "_bucket", {**plain, "le": le}, count, stamp) for le, count in buckets]
        lines.append(line(name + "_count", plain, buckets[-1][1], stamp))
        lines.append(line(name + "_sum", plain, total, stamp))
        family.spool.writelines(lines)
        self._writer.samples += len(lines)
