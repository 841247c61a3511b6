"""Timestamped OpenMetrics text, for backfilling replayed history into Prometheus.

``promtool tsdb create-blocks-from openmetrics`` reads one file in which every metric
family's samples stand together, each sample carrying its timestamp, ending in ``# EOF``.
OpenMetrics also wants each series' points together, in time order. A replay produces its
samples snapshot by snapshot (all families at one moment), so the writer spools each family
to its own file and, when closed, orders one family at a time by series, then snapshot, then
place within a histogram's point (each spooled line starts with those, so a plain sort of the
lines does it): memory holds one family's history at most, never the whole file.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _series(labels: dict[str, str]) -> str:
    """The key of one series' points: a histogram's buckets, count and sum share one point."""
    return ",".join(f"{k}={v}" for k, v in labels.items() if k != "le")


def format_value(value: float) -> str:
    if value.__class__ is int and -(10**15) < value < 10**15:
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def format_sample(name: str, labels: dict[str, str], value: float, at: float) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {format_value(value)} {at:.3f}\n"
    return f"{name} {format_value(value)} {at:.3f}\n"


# A spooled line: the series key, NUL, the snapshot's number and the line's place in its point
# (fixed width: a plain sort of whole lines orders a family by series, then time, then place),
# then the sample line itself.
_ORDER_WIDTH = 10


class _Family:
    """One family's spool file, its header, and its series' formatted text."""

    __slots__ = ("header", "label_names", "lines", "name", "spool", "write")

    def __init__(self, name: str, header: str, label_names: Sequence[str], spool: IO[str]) -> None:
        self.name = name
        self.header = header
        self.label_names = tuple(label_names)
        self.spool = spool
        self.write = spool.write
        # Label values -> the series' spooled parts (a histogram's: one per bucket, count, sum).
        self.lines: dict[tuple[str, ...], Any] = {}


class OpenMetricsWriter:
    """Collects snapshot after snapshot through :meth:`sink`; :meth:`close` writes the finished file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples = 0
        self.snapshots = 0
        self._spool = Path(tempfile.mkdtemp(prefix="cxpulse-openmetrics-", dir=path.parent))
        self._families: dict[str, _Family] = {}  # by family name, in first-seen order

    def sink(self, at: float) -> OpenMetricsSink:
        """A collector sink writing one snapshot at ``at`` straight into the spools (no families built)."""
        self.snapshots += 1
        return OpenMetricsSink(self, at, f"{self.snapshots:08x}")

    def family(self, name: str, help_text: str, kind: str, labels: Sequence[str]) -> _Family:
        """The family ``name`` of ``kind``, with its spool opened on first use."""
        base = name.removesuffix("_total") if kind == "counter" else name
        found = self._families.get(base)
        if found is None:
            spool = open(self._spool / f"{len(self._families)}.txt", "w", encoding="utf-8")  # noqa: SIM115
            header = f"# HELP {base} {_escape_help(help_text)}\n# TYPE {base} {kind}\n"
            sample_name = base + "_total" if kind == "counter" else base
            found = self._families[base] = _Family(sample_name, header, labels, spool)
        return found

    def close(self) -> int:
        """Write the file (families in first-seen order, then ``# EOF``); returns samples written."""
        skip = 1 + _ORDER_WIDTH
        try:
            with open(self.path, "w", encoding="utf-8") as out:
                for family in self._families.values():
                    family.spool.close()
                    out.write(family.header)
                    with open(family.spool.name, encoding="utf-8") as part:
                        lines = part.readlines()
                    lines.sort()
                    out.writelines(line[line.index("\0") + skip :] for line in lines)
                out.write("# EOF\n")
        finally:
            for family in self._families.values():
                family.spool.close()
            shutil.rmtree(self._spool, ignore_errors=True)
        return self.samples


def _spooled(name: str, labels: dict[str, str], place: int) -> tuple[str, str]:
    """A series' spool line, less its value and time: the part before the order, and after.

    ``place`` is two hex digits: a histogram has far fewer than 256 buckets.
    """
    return f"{_series(labels)}\0", f"{place:02x}{format_sample(name, labels, 0, 0)[:-8]}"


class OpenMetricsSink:
    """A snapshot written by :meth:`metrics.export.collector.KpiCollector.emit` straight into the
    writer's spools, without building families: a replay takes a snapshot of every series each
    minute of event time, so each series' text is formatted once and reused."""

    def __init__(self, writer: OpenMetricsWriter, at: float, order: str) -> None:
        self._writer = writer
        self._stamp = f" {at:.3f}\n"
        self._order = order

    def family(self, name: str, help_text: str, kind: str, labels: Sequence[str]) -> _Family:
        return self._writer.family(name, help_text, kind, labels)

    def sample(self, family: _Family, labels: tuple[str, ...], value: float) -> None:
        parts = family.lines.get(labels)
        if parts is None:
            plain = dict(zip(family.label_names, labels, strict=True))
            parts = family.lines[labels] = _spooled(family.name, plain, 0)
        family.write(f"{parts[0]}{self._order}{parts[1]}{format_value(value)}{self._stamp}")
        self._writer.samples += 1

    def histogram(
        self, family: _Family, labels: tuple[str, ...], buckets: list[tuple[str, float]], total: float
    ) -> None:
        parts = family.lines.get(labels)
        if parts is None:
            name, plain = family.name, dict(zip(family.label_names, labels, strict=True))
            parts = [_spooled(name + "_bucket", {**plain, "le": le}, i) for i, (le, _) in enumerate(buckets)]
            parts.append(_spooled(name + "_count", plain, len(buckets)))
            parts.append(_spooled(name + "_sum", plain, len(buckets) + 1))
            family.lines[labels] = parts
        order, stamp = self._order, self._stamp
        values = [count for _, count in buckets]
        values += (buckets[-1][1], total)
        family.write(
            "".join(
                f"{head}{order}{tail}{format_value(value)}{stamp}"
                for (head, tail), value in zip(parts, values, strict=True)
            )
        )
        self._writer.samples += len(values)
