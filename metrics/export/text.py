"""The Prometheus text format of a registry, byte for byte what ``prometheus_client`` writes, faster.

A worker renders ``/metrics`` on its event loop, so a scrape's rendering time is a pause in event
processing. ``prometheus_client.generate_latest`` escapes and sorts every label of every sample
anew; a worker's ~280 series per queue and channel share a handful of label sets (queue, channel,
window), so here each distinct label set is escaped once per scrape and reused. The output is
the same bytes (a test compares them), so Prometheus, the dashboards and the parsers see no change.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.openmetrics.exposition import (
    UNDERSCORES,
    _escape,
    escape_label_name,
    escape_metric_name,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# Samples OpenMetrics adds that the Prometheus text format moves to gauges of their own.
_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}


def help_line(name: str, documentation: str) -> str:
    """``# HELP`` as generate_latest writes it (backslashes and newlines escaped)."""
    return f"# HELP {name} {documentation.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}\n"


def label_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """``name="value",...`` as generate_latest writes labels (names escaped, values quoted)."""
    return ",".join(
        f'{escape_label_name(k, UNDERSCORES)}="{_escape(v, "allow-utf-8", False)}"' for k, v in pairs
    )


def sample_value(value: float) -> str:
    """``floatToGoString``: Python's repr, but Go's exponent form from a million up, and Inf/NaN."""
    value = float(value)
    if -1e6 < value < 1e6:
        return repr(value)
    return floatToGoString(value)


def render(registry: Collector) -> bytes:
    """``generate_latest(registry)``, with label sets and sample names escaped once per call."""
    out: list[str] = []
    labels_text: dict[tuple[tuple[str, str], ...], str] = {}
    names: dict[str, str] = {}
    for metric in registry.collect():
        name = metric.name
        kind = metric.type
        shown = name + "_total" if kind == "counter" else name + "_info" if kind == "info" else name
        shown = escape_metric_name(shown, UNDERSCORES)
        out.append(help_line(shown, metric.documentation))
        out.append(f"# TYPE {shown} {_TYPES.get(kind, kind)}\n")
        extra: dict[str, list[str]] = {}
        for sample in metric.samples:
            labels = sample.labels
            if labels:
                key = tuple(labels.items())
                text = labels_text.get(key)
                if text is None:
                    text = labels_text[key] = "{" + label_pairs(sorted(labels.items())) + "}"
            else:
                text = ""
            stamp = "" if sample.timestamp is None else f" {int(float(sample.timestamp) * 1000):d}"
            shown_sample = names.get(sample.name)
            if shown_sample is None:
                shown_sample = names[sample.name] = escape_metric_name(sample.name, UNDERSCORES)
            line = f"{shown_sample}{text} {sample_value(sample.value)}{stamp}\n"
            suffix = next((s for s in _OM_SUFFIXES if sample.name == name + s), None)
            if suffix is None:
                out.append(line)
            else:
                extra.setdefault(suffix, []).append(line)
        for suffix, lines in sorted(extra.items()):
            gauge = escape_metric_name(name + suffix, UNDERSCORES)
            out.append(help_line(gauge, metric.documentation))
            out.append(f"# TYPE {gauge} gauge\n")
            out.extend(lines)
    return "".join(out).encode("utf-8")
