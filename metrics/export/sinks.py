"""Where the KPI collector writes its samples: ``prometheus_client`` families, or text directly.

The collector decides once what is exported (:mod:`metrics.export.collector`); a sink decides the
form. :class:`Families` builds the library's metric families (for registries, the replay's
OpenMetrics writer and the tests). :class:`Text` writes the Prometheus text format straight from
the values — the same bytes ``generate_latest`` would write for those families (a test compares
them) — because a worker renders ``/metrics`` on its event loop, and building ~280 sample objects
per queue and channel, then escaping each sample's labels anew, made a scrape of 200 queue ×
channel pairs pause event processing for half a second.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Protocol, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from metrics.export.text import help_line, label_pairs, sample_value

F = TypeVar("F")


class Sink(Protocol[F]):
    """What the KPI collector writes to: a family is whatever the sink's :meth:`family` returned,
    handed back unchanged with each sample; groups mark one queue and channel's samples for
    writers that follow series over time (the replay's)."""

    def family(self, name: str, help_text: str, kind: str, labels: Sequence[str]) -> F: ...
    def keeps(self, family: F) -> bool: ...
    def group(self, group: Hashable, complete: bool = True) -> None: ...
    def sample(self, family: F, labels: Sequence[str], value: float) -> None: ...
    def histogram(
        self, family: F, labels: Sequence[str], buckets: list[tuple[str, float]], total: float
    ) -> None: ...


_FAMILIES = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily, "histogram": HistogramMetricFamily}


class Families:
    """Samples into ``prometheus_client`` metric families, in the order the families were opened."""

    def __init__(self) -> None:
        self._families: list[Metric] = []

    def family(self, name: str, help_text: str, kind: str, labels: Sequence[str]) -> Metric:
        family = _FAMILIES[kind](name, help_text, labels=list(labels))
        self._families.append(family)
        return family

    def keeps(self, family: Metric) -> bool:
        """Whether samples of ``family`` are kept (a scrape keeps every family)."""
        return True

    def group(self, group: Hashable, complete: bool = True) -> None:
        """Samples come in groups for writers that track series over time; a scrape has no use for them."""

    def finish(self) -> None:
        pass

    def sample(self, family: Metric, labels: Sequence[str], value: float) -> None:
        family.add_metric(list(labels), value)

    def histogram(
        self, family: Metric, labels: Sequence[str], buckets: list[tuple[str, float]], total: float
    ) -> None:
        family.add_metric(list(labels), buckets, total)

    def results(self) -> Iterator[Metric]:
        yield from self._families


class _TextFamily:
    __slots__ = ("label_names", "lines", "name")

    def __init__(self, name: str, label_names: Sequence[str], header: str) -> None:
        self.name = name
        self.label_names = tuple(label_names)
        self.lines = [header]


class Text:
    """Samples straight into the Prometheus text format (what ``generate_latest`` writes)."""

    def __init__(self) -> None:
        self._families: list[_TextFamily] = []
        self._label_sets: dict[tuple[Hashable, ...], str] = {}
        self._le_parts: dict[tuple[Hashable, ...], tuple[str, str]] = {}

    def family(self, name: str, help_text: str, kind: str, labels: Sequence[str]) -> _TextFamily:
        if kind == "counter":  # a counter's samples and header carry its `_total` name
            name = name.removesuffix("_total") + "_total"
        family = _TextFamily(name, labels, help_line(name, help_text) + f"# TYPE {name} {kind}\n")
        self._families.append(family)
        return family

    def _labels(self, family: _TextFamily, values: Sequence[str]) -> str:
        key = (family.label_names, values)
        text = self._label_sets.get(key)
        if text is None:
            inner = label_pairs(sorted(zip(family.label_names, values, strict=True)))
            text = self._label_sets[key] = "{" + inner + "}" if inner else ""
        return text

    def _around_le(self, family: _TextFamily, values: Sequence[str]) -> tuple[str, str]:
        """The label text before and after ``le``, which sorts among the others."""
        key = (family.label_names, values, "le")
        parts = self._le_parts.get(key)
        if parts is None:
            pairs = sorted([*zip(family.label_names, values, strict=True), ("le", "")])
            at = [k for k, _ in pairs].index("le")
            before, after = label_pairs(pairs[:at]), label_pairs(pairs[at + 1 :])
            parts = self._le_parts[key] = (
                "{" + before + ("," if before else ""),
                ("," if after else "") + after + "}",
            )
        return parts

    def keeps(self, family: _TextFamily) -> bool:
        return True

    def group(self, group: Hashable, complete: bool = True) -> None:
        pass

    def finish(self) -> None:
        pass

    def sample(self, family: _TextFamily, labels: Sequence[str], value: float) -> None:
        family.lines.append(f"{family.name}{self._labels(family, labels)} {sample_value(value)}\n")

    def histogram(
        self, family: _TextFamily, labels: Sequence[str], buckets: list[tuple[str, float]], total: float
    ) -> None:
        lines, name = family.lines, family.name
        before, after = self._around_le(family, labels)
        for le, count in buckets:
            lines.append(f'{name}_bucket{before}le="{le}"{after} {sample_value(count)}\n')
        plain = self._labels(family, labels)
        lines.append(f"{name}_count{plain} {sample_value(buckets[-1][1])}\n")
        lines.append(f"{name}_sum{plain} {sample_value(total)}\n")

    def results(self) -> str:
        return "".join(line for family in self._families for line in family.lines)
