"""Timestamped OpenMetrics text, for backfilling replayed history into Prometheus.

``promtool tsdb create-blocks-from openmetrics`` reads one file in which every metric
family's samples stand together, each sample carrying its timestamp, ending in ``# EOF``.
OpenMetrics also wants each series' points together, in time order. A replay produces its
samples snapshot by snapshot (all families at one moment), so the writer spools each family
to its own file and, when closed, orders one family at a time by series, then snapshot, then
place within a histogram's point (each spooled line starts with those, so a plain sort of the
lines does it): memory holds one family's history at most, never the whole file.

Written as one file per block (``block_seconds``), a block is finished while the replay goes on:
once event time is past the block's end by the longest stretch the cadence may still fill in
backwards (the dense stretch before a change), every series is settled up to the block's end
and the block's file is written and handed to ``on_block`` — a backfill loads it while the
replay computes the next, and memory and disk hold a few blocks, not the whole history. Each
series keeps its own samples of the blocks not written yet, in time order as they come, so a
block is written series by series without sorting its lines.

Only samples that carry information are written (:mod:`metrics.export.cadence`): each series
remembers its value, the step it last changed and the step it was last written, and when it
changes, vanishes or the file closes, the steps it stood still are written as the cadence
asks. A series the collector did not hand over in a snapshot stood still; one missing from a
group the collector did hand over has vanished.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from bisect import bisect_right
from collections.abc import Callable, Hashable, Sequence
from itertools import repeat
from pathlib import Path
from typing import IO

from metrics.export.cadence import EVERY_STEP, Cadence, cadence_of
from metrics.export.family_filter import FamilyFilter


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


class _Steps:
    """A cadence in snapshot steps: dense this many steps around a change, else every ``refresh``."""

    __slots__ = ("dense", "refresh")

    def __init__(self, cadence: Cadence, step: float) -> None:
        dense = cadence.dense_seconds / step if step > 0 else math.inf
        self.dense = math.ceil(dense) if math.isfinite(dense) else 1 << 62
        self.refresh = max(1, int(cadence.refresh_seconds // step)) if step > 0 else 1


class _Line:
    """One sample line's series: its spool prefix and suffix, and what it has written so far."""

    __slots__ = ("at", "changed", "family", "head", "pending", "sample", "steps", "tail", "value", "written")

    def __init__(self, family: _Family, head: str, tail: str, steps: _Steps) -> None:
        self.family = family
        self.head = head  # series key and NUL: the spool line's sort key starts here
        self.tail = tail  # (spooled: place in the point, then) the sample's name and labels
        self.steps = steps
        self.value: float = math.nan
        self.sample = tail  # tail and the value's text: formatted once per change, written many times
        self.changed = -1  # step of the latest change (or appearance)
        self.written = -1  # latest step written
        # Written block by block: the samples of the blocks not written yet, and their steps.
        self.pending: list[str] = []
        self.at: list[int] = []


class _Family:
    """One family: its header, its series' lines, and where its samples wait until written (a
    spool file when the output is one file; each series' own list when it is block by block)."""

    __slots__ = ("buckets", "header", "kept", "label_names", "lines", "name", "order", "spool")

    def __init__(
        self,
        name: str,
        header: str,
        label_names: Sequence[str],
        spool: IO[str] | None,
        kept: bool = True,
        buckets: bool = True,
    ) -> None:
        self.name = name
        self.header = header
        self.label_names = tuple(label_names)
        self.spool = spool
        self.kept = kept  # whether it is written at all (a replay may leave families out)
        self.buckets = buckets  # a histogram's buckets too, or only its count and sum
        self.order: list[_Line | list[_Line]] = []  # its series by key, when written block by block
        # Label values -> the series' lines (a histogram's: one per bucket, then count and sum).
        self.lines: dict[tuple[str, ...], _Line | list[_Line]] = {}


class OpenMetricsWriter:
    """Collects snapshot after snapshot through :meth:`sink`; :meth:`close` writes the finished file.

    ``step`` is the event time between snapshots (the cadence is counted in them);
    ``every_step`` writes every series at every snapshot instead; ``keep(family, kind)``, if
    given, says which families are written at all, and ``keep.buckets(family)`` whether a
    histogram's buckets are (:mod:`metrics.export.family_filter`).
    """

    def __init__(
        self,
        path: Path,
        step: float = 60.0,
        every_step: bool = False,
        block_seconds: int | None = None,
        keep: FamilyFilter | None = None,
        on_block: Callable[[Path], None] | None = None,
        window: tuple[float, float] | None = None,
    ) -> None:
        self.path = path
        self._keep = keep
        self._on_block = on_block  # called with each block's file once it is written
        # With ``block_seconds``, ``path`` is a folder of one file per block of that much time
        # (aligned as Prometheus aligns its blocks), each for one promtool run: promtool reads a
        # file once for every two hours the file spans, so a file per block is read once.
        self.block_seconds = block_seconds
        self.files: list[Path] = []
        self.samples = 0
        self.snapshots = 0
        self.step = step
        self._every_step = every_step or step <= 0
        if block_seconds is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._spool: Path | None = None
        else:
            self._spool = Path(tempfile.mkdtemp(prefix=".cxpulse-spool-", dir=path.parent))
        self._block_numbers: list[int] = []  # by snapshot: its block
        self._lines: list[_Line] = []  # every series ever seen, to settle them when a block ends
        self._lag_steps = 0  # the longest dense stretch a cadence may fill in backwards
        self._written_through = -1  # the snapshots up to this one are in the block files written
        self._families: dict[str, _Family] = {}  # by family name, in first-seen order
        self._stamps: list[str] = []  # by snapshot: " <time>\n"
        self._steps: list[str] = []  # by snapshot: its number, 8 hex digits (the spool's sort key)
        self._groups: dict[Hashable, list[_Line]] = {}  # the lines each group held at its latest snapshot
        # Steps are counted from the first snapshot, the refresh grid from the epoch: two
        # writers over overlapping stretches of one history choose the same steps to write.
        self._origin = 0
        # With ``window`` (event time from, until), only the snapshots within it are written: a
        # slice of a history replayed beside others (see streams.replay.slices) starts its
        # snapshots a dense stretch before its window and ends them one after, so its writer
        # decides every step within as a writer over the whole history does.
        self._window = window
        self._lo, self._hi = 0, 1 << 62  # the snapshots within ``window``: lo <= index < hi

    def sink(self, at: float) -> OpenMetricsSink:
        """A collector sink writing one snapshot at ``at`` (no families built)."""
        self.snapshots += 1
        index = self.snapshots - 1
        if index == 0 and self.step > 0:
            self._origin = round(at / self.step)
        if self._window is not None:
            if at < self._window[0]:
                self._lo = index + 1
            if at < self._window[1]:
                self._hi = index + 1
        self._stamps.append(f" {at:.3f}\n")
        self._steps.append(f"{self.snapshots - 1:08x}")
        if self.block_seconds is not None:
            block = int(at // self.block_seconds)
            if self._block_numbers and block != self._block_numbers[-1]:
                self._finish_blocks(at, self.snapshots - 1)
            self._block_numbers.append(block)
        return OpenMetricsSink(self, self.snapshots - 1)

    def family(self, name: str, help_text: str, kind: str, labels: Sequence[str]) -> _Family:
        """The family ``name`` of ``kind``, with its spool opened on first use."""
        base = name.removesuffix("_total") if kind == "counter" else name
        found = self._families.get(base)
        if found is not None:
            return found
        if self._keep is not None and not self._keep(base, kind):
            found = self._families[base] = _Family(base, "", labels, None, kept=False)
            return found
        buckets = kind != "histogram" or self._keep is None or self._keep.buckets(base)
        header = f"# HELP {base} {_escape_help(help_text)}\n# TYPE {base} {kind}\n"
        sample_name = base + "_total" if kind == "counter" else base
        if self._spool is None:
            found = _Family(sample_name, header, labels, None, buckets=buckets)
        else:
            spool = open(self._spool / f"{len(self._families)}.txt", "w", encoding="utf-8")  # noqa: SIM115
            found = _Family(sample_name, header, labels, spool, buckets=buckets)
        self._families[base] = found
        return found

    def _line(self, family: _Family, name: str, labels: dict[str, str], place: int) -> _Line:
        """A new series' line. ``place`` is two hex digits: a histogram has far fewer than 256 buckets."""
        cadence = EVERY_STEP if self._every_step else cadence_of(name)
        head = f"{_series(labels)}\0"
        text = format_sample(name, labels, 0, 0)[:-8]
        tail = text if self.block_seconds is not None else f"{place:02x}{text}"
        steps = _Steps(cadence, self.step)
        line = _Line(family, head, tail, steps)
        if self.block_seconds is not None:
            self._lines.append(line)
            if steps.dense < 1 << 61:  # every step written: nothing is filled in backwards
                self._lag_steps = max(self._lag_steps, steps.dense)
        return line

    def _emit(self, line: _Line, indexes: Sequence[int]) -> None:
        """The series' current sample at each of the steps ``indexes``, in step order."""
        sample, stamps = line.sample, self._stamps
        if self._window is not None and (indexes[0] < self._lo or indexes[-1] >= self._hi):
            indexes = [i for i in indexes if self._lo <= i < self._hi]
        if self.block_seconds is None:
            head, steps = line.head, self._steps
            line.family.spool.writelines(f"{head}{steps[i]}{sample}{stamps[i]}" for i in indexes)
        else:  # in the series' own order already: a block is written without sorting its lines
            line.pending.extend([sample + stamps[i] for i in indexes])
            line.at.extend(indexes)
        self.samples += len(indexes)

    def _settle(self, line: _Line, until: int, next_change: int) -> None:
        """Write the steps after ``line.written`` up to ``until`` at which the series stood still
        at ``line.value``, as its cadence asks (``next_change``: the step of the next change or
        disappearance, whose dense stretch reaches back)."""
        start = line.written + 1
        if start > until:
            return
        steps = line.steps
        # In step order: the dense stretch after the change, a sample every ``refresh`` steps
        # in between, the dense stretch before the next change.
        wanted: list[int] = []
        after = min(until, line.changed + steps.dense)
        if after >= start:
            wanted.extend(range(start, after + 1))
            start = after + 1
        before = max(start, next_change - steps.dense)
        if before - 1 >= start:
            refresh, origin = steps.refresh, self._origin
            first = -(-(start + origin) // refresh) * refresh - origin
            wanted.extend(range(first, min(until, before - 1) + 1, refresh))
        wanted.extend(range(before, until + 1))
        if not wanted:
            return
        self._emit(line, wanted)
        line.written = wanted[-1]

    def observe(self, line: _Line, index: int, value: float) -> None:
        """The series ``line`` stood at ``value`` at snapshot ``index``."""
        # Most calls find the series where it was: that test comes first, without a call.
        before, changed = line.value, line.changed
        if changed >= 0:
            if value == before or (value != value and before != before):  # NaN stays NaN
                return
            if line.written < index - 1:  # a still stretch behind it (most changes follow a change)
                self._settle(line, index - 1, index)
        line.value = value
        sample = line.sample = line.tail + format_value(value)
        line.changed = line.written = index
        # One sample, the most frequent write: _emit's work without its lists.
        if self._lo <= index < self._hi:
            if self.block_seconds is None:
                line.family.spool.write(f"{line.head}{self._steps[index]}{sample}{self._stamps[index]}")
            else:
                line.pending.append(sample + self._stamps[index])
                line.at.append(index)
            self.samples += 1

    def vanish(self, line: _Line, last: int) -> None:
        """The series was last there at snapshot ``last``; it starts afresh if it comes back."""
        self._settle(line, last - 1, last)
        if line.written < last:
            self._emit(line, (last,))
        line.changed = line.written = -1
        line.value = math.nan

    def end_group(self, group: Hashable, seen: list[_Line], index: int) -> None:
        """A group's lines at snapshot ``index`` were ``seen``: any other it held before vanished."""
        before = self._groups.get(group)
        if before is not None and before != seen:
            present = set(map(id, seen))
            for line in before:
                if id(line) not in present and line.changed >= 0:
                    self.vanish(line, index - 1)
        self._groups[group] = seen

    def _finish_blocks(self, at: float, index: int) -> None:
        """Write every block that no later sample can reach, before snapshot ``index`` at ``at``.

        A series that stood still is filled in when it next changes, up to the dense stretch
        before that change: steps further back than that from ``index`` are settled now."""
        assert self.block_seconds is not None
        # The latest step that neither a change from ``index`` on nor a series vanishing at
        # ``index - 1`` (noticed at ``index``) reaches back to.
        horizon = index - self._lag_steps - 2
        if horizon < 0:
            return
        done = self._block_numbers[horizon]
        if horizon + 1 < len(self._block_numbers) and self._block_numbers[horizon + 1] == done:
            done -= 1  # the horizon's own block goes on after it
        through = self._written_through
        written = self._block_numbers[through] if through >= 0 else self._block_numbers[0] - 1
        if done <= written:
            return
        last = horizon
        while self._block_numbers[last] > done:  # block numbers never fall
            last -= 1
        for line in self._lines:
            if line.changed >= 0 and line.written < last:
                self._settle(line, last, 1 << 62)
        self._write_blocks(done)

    def close(self) -> int:
        """Write the file (families in first-seen order, then ``# EOF``); returns samples written."""
        last = self.snapshots - 1
        for family in self._families.values():
            for parts in family.lines.values():
                for line in parts if isinstance(parts, list) else (parts,):
                    if line.changed >= 0:
                        self.vanish(line, last)
        try:
            if self.block_seconds is None:
                with open(self.path, "w", encoding="utf-8") as out:
                    for family in self._kept():
                        if family.lines:
                            out.writelines(self._spooled(family))
                    out.write("# EOF\n")
                self.files = [self.path]
            else:
                self._write_blocks(self._block_numbers[-1] if self._block_numbers else -1)
        finally:
            for family in self._kept():
                if family.spool is not None:
                    family.spool.close()
            if self._spool is not None:
                shutil.rmtree(self._spool, ignore_errors=True)
        return self.samples

    def _kept(self) -> list[_Family]:
        """The families written, in first-seen order."""
        return [family for family in self._families.values() if family.kept]

    def _spooled(self, family: _Family) -> list[str]:
        """The family's header and spooled samples in order: by series, then snapshot, then place
        in the point (each spooled line starts with those, so a plain sort does it), key removed."""
        assert family.spool is not None
        family.spool.close()
        with open(family.spool.name, encoding="utf-8") as part:
            lines = part.readlines()
        lines.sort()
        skip = 1 + 10  # NUL, then the step (8 hex digits) and the place in the point (2)
        return [family.header, *(line[line.index("\0") + skip :] for line in lines)]

    def _write_blocks(self, through: int) -> None:
        """The files of the blocks after those already written, up to block ``through``: one
        OpenMetrics file per block, named for the block's start time, handed to ``on_block``."""
        assert self.block_seconds is not None
        numbers = self._block_numbers
        index = self._written_through + 1
        while index < len(numbers) and numbers[index] <= through:
            block, first = numbers[index], index
            while index + 1 < len(numbers) and numbers[index + 1] == block:
                index += 1
            self._write_block(block, first, index)
            index += 1
        self._written_through = index - 1

    def _write_block(self, block: int, first: int, last: int) -> None:
        """One block's file: each family's samples of steps ``first`` to ``last``, series by
        series (a histogram's point by point), in time order."""
        assert self.block_seconds is not None
        parts: list[str] = []
        for family in self._kept():
            if len(family.order) != len(family.lines):  # new series: sort them into place
                family.order = sorted(family.lines.values(), key=_series_key)
            start = len(parts)
            for series in family.order:
                if isinstance(series, list):
                    parts.extend(_point_by_point(series, first, last))
                else:
                    parts.extend(_taken(series, first, last)[1])
            if len(parts) > start:
                parts.insert(start, family.header)
        if not parts:
            return
        path = self.path / f"cxpulse-{block * self.block_seconds}.om"
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(parts)
            out.write("# EOF\n")
        self.files.append(path)
        if self._on_block is not None:
            self._on_block(path)


def _series_key(series: _Line | list[_Line]) -> str:
    return (series[0] if isinstance(series, list) else series).head


def _taken(line: _Line, first: int, last: int) -> tuple[list[int], list[str]]:
    """The series' pending steps and samples up to step ``last``, no longer pending (none may
    be before ``first``: its block is written)."""
    at = line.at
    if not at or at[0] > last:
        return [], []
    if at[0] < first:
        raise RuntimeError(f"a sample of {line.tail} came after its block was written")
    if at[-1] <= last:
        steps, samples = at, line.pending
        line.at, line.pending = [], []
        return steps, samples
    n = bisect_right(at, last)
    steps, samples = at[:n], line.pending[:n]
    del at[:n], line.pending[:n]
    return steps, samples


def _point_by_point(lines: list[_Line], first: int, last: int) -> list[str]:
    """A histogram's pending samples up to step ``last``, step by step, each step's buckets,
    count and sum in that order (OpenMetrics keeps a point's samples together)."""
    found: list[tuple[int, int, str]] = []
    for place, line in enumerate(lines):
        steps, samples = _taken(line, first, last)
        found.extend(zip(steps, repeat(place), samples, strict=False))
    found.sort()
    return [sample for _, _, sample in found]


class OpenMetricsSink:
    """A snapshot written by :meth:`metrics.export.collector.KpiCollector.emit` straight into the
    writer, without building families: each series' text is formatted once and reused, and a
    sample is spooled only when the writer's cadence wants it."""

    __slots__ = ("_group", "_index", "_seen", "_writer")

    def __init__(self, writer: OpenMetricsWriter, index: int) -> None:
        self._writer = writer
        self._index = index
        self._group: Hashable = None
        self._seen: list[_Line] = []

    def family(self, name: str, help_text: str, kind: str, labels: Sequence[str]) -> _Family:
        return self._writer.family(name, help_text, kind, labels)

    def keeps(self, family: _Family) -> bool:
        """Whether the writer writes ``family`` at all (a replay may leave families out)."""
        return family.kept

    def group(self, group: Hashable, complete: bool = True) -> None:
        """The samples that follow belong to ``group``: if ``complete``, they are all it holds in
        this snapshot, and a series it held before that is missing has vanished; otherwise they
        are those that may have changed (its series never vanish)."""
        self.finish()
        self._group = group if complete else None
        self._seen = []

    def finish(self) -> None:
        if self._group is not None:
            self._writer.end_group(self._group, self._seen, self._index)
            self._group = None

    def sample(self, family: _Family, labels: tuple[str, ...], value: float) -> None:
        if not family.kept:
            return
        line = family.lines.get(labels)
        if line is None:
            plain = dict(zip(family.label_names, labels, strict=True))
            line = family.lines[labels] = self._writer._line(family, family.name, plain, 0)
        if self._group is not None:
            self._seen.append(line)
        self._writer.observe(line, self._index, value)

    def histogram(
        self, family: _Family, labels: tuple[str, ...], buckets: list[tuple[str, float]], total: float
    ) -> None:
        if not family.kept:
            return
        lines = family.lines.get(labels)
        writer = self._writer
        if lines is None:
            name, plain = family.name, dict(zip(family.label_names, labels, strict=True))
            lines = [
                writer._line(family, name + "_bucket", {**plain, "le": le}, i)
                for i, (le, _) in enumerate(buckets)
                if family.buckets
            ]
            lines.append(writer._line(family, name + "_count", plain, len(buckets)))
            lines.append(writer._line(family, name + "_sum", plain, len(buckets) + 1))
            family.lines[labels] = lines
        if self._group is not None:
            self._seen.extend(lines)
        index, observe = self._index, writer.observe
        if family.buckets:
            for line, (_, count) in zip(lines, buckets, strict=False):
                observe(line, index, count)
        observe(lines[-2], index, buckets[-1][1])
        observe(lines[-1], index, total)
