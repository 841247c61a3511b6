"""Writes the SLO recording rules and burn-rate alerts (rules/cxpulse-slo.rules.yml) from slo.yml.

    python deploy/prometheus/slo.py          # or: make rules

One spec, as Sloth and Pyrra keep one, and every queue served by the same rules: the objective
is read per queue from the gauge the workers export, so a queue's target changes in settings,
never here. For each SLO the generated file records, per queue:

- the error and request rates over the short windows, read from the counters;
- the error ratio over every window the alerts use (windows longer than an hour are summed from
  the recorded one-hour rates, so Prometheus never reads days of raw samples, and a backfill
  only needs the raw counters as densely as an hour's range asks);
- the error budget (1 − objective), the budget scaled by the share of the week the queue is
  open, and the budget remaining over the period;

and one alert per entry of ``alerts``: any of its window pairs above its factor, while the
queue is open and past its grace period (``queue:cxpulse_queue_open:after_grace``, in
cxpulse.rules.yml).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SPEC = HERE / "slo.yml"
OUT = HERE / "rules" / "cxpulse-slo.rules.yml"
BASE = "1h"  # the recorded rate longer windows are summed from
OPEN = "queue:cxpulse_queue_open:after_grace == 1"  # open, past its grace period (cxpulse.rules.yml)
UNITS = {"m": 60, "h": 3600, "d": 86400}


def seconds(window: str) -> int:
    found = re.fullmatch(r"(\d+)([mhd])", window)
    if not found:
        raise ValueError(f"{window!r}: a window is a number and m, h or d")
    return int(found[1]) * UNITS[found[2]]


QUEUE, VALUE = "{{ $labels.queue }}", "{{ $value | humanizePercentage }}"


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _sum(terms: list[str], window: str) -> str:
    """``a, -b, c`` as ``sum by (queue) (rate(a[w])) - sum by (queue) (rate(b[w])) + ...``."""
    parts = []
    for i, term in enumerate(terms):
        sign, metric = ("-", term[1:]) if term.startswith("-") else ("+", term)
        text = f"sum by (queue) (rate({metric}[{window}]))"
        parts.append(text if i == 0 else f"{sign} {text}")
    return "\n  ".join(parts)


def _rule(kind: str, name: str, expr: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {kind: name, "expr": expr}
    rule.update(extra or {})
    return rule


def generate(spec: dict[str, Any]) -> dict[str, Any]:
    period = spec["period"]
    windows = {w[k] for alert in spec["alerts"] for w in alert["windows"] for k in ("long", "short")}
    raw = sorted({w for w in windows if seconds(w) <= seconds(BASE)} | {BASE}, key=seconds)
    summed = sorted({w for w in windows if seconds(w) > seconds(BASE)} | {period}, key=seconds)
    groups = []
    share = "queue:cxpulse_queue_open_share_ratio:max"
    shared = [_rule("record", share, "max by (queue) (cxpulse_queue_open_share_ratio)")]
    groups.append({"name": "cxpulse-slo-shared", "interval": "30s", "rules": shared})
    for slo in spec["slos"]:
        prefix = f"queue:cxpulse_{slo['name']}_slo"
        rules = []
        for w in raw:
            rules.append(_rule("record", f"{prefix}_errors:rate{w}", _sum(slo["errors"], w)))
            rules.append(_rule("record", f"{prefix}_requests:rate{w}", _sum(slo["requests"], w)))
            ratio = f"{prefix}_errors:rate{w} / {prefix}_requests:rate{w} > -1"
            rules.append(_rule("record", f"{prefix}_errors:ratio_rate{w}", ratio))
        slow = []  # windows of a day and more change slowly: evaluated every 5 minutes
        for w in summed:
            (slow if seconds(w) >= 86400 else rules).append(
                _rule(
                    "record",
                    f"{prefix}_errors:ratio_rate{w}",
                    f"sum_over_time({prefix}_errors:rate{BASE}[{w}])\n"
                    f"  / sum_over_time({prefix}_requests:rate{BASE}[{w}]) > -1",
                )
            )
        budget = f"{prefix}_error_budget:ratio"
        rules.append(_rule("record", budget, f"1 - max by (queue) ({slo['objective']})"))
        rules.append(_rule("record", f"{prefix}_open_error_budget:ratio", f"{budget} * on (queue) {share}"))
        remaining = f"1 - {prefix}_errors:ratio_rate{period} / on (queue) {budget}"
        slow.append(_rule("record", f"{prefix}_error_budget_remaining:ratio", remaining))
        groups.append({"name": f"cxpulse-slo-{slo['name']}", "interval": "30s", "rules": rules})
        groups.append({"name": f"cxpulse-slo-{slo['name']}-long", "interval": "5m", "rules": slow})
    alerts = []
    for slo in spec["slos"]:
        prefix = f"queue:cxpulse_{slo['name']}_slo"
        for alert in spec["alerts"]:
            pairs = []
            for w in alert["windows"]:
                budget = f"{prefix}_{'open_' if w['open_hours'] else ''}error_budget:ratio"
                # A burn rate cannot pass 1 ÷ budget (every contact an error): where factor ×
                # budget would, the pair fires at max_ratio instead, so a queue with a loose
                # target open around the clock still pages when it answers almost nobody.
                limit = f"clamp_max({w['factor']} * {budget}, {w.get('max_ratio', 1)})"
                over = [f"{prefix}_errors:ratio_rate{w[k]} > on (queue) {limit}" for k in ("long", "short")]
                pairs.append("(\n    " + "\n    and\n    ".join(over) + "\n  )")
            expr = "(\n  " + "\n  or\n  ".join(pairs) + "\n)\nand on (queue) " + OPEN
            spans = ", ".join(f"{w['factor']}× over {w['long']} and {w['short']}" for w in alert["windows"])
            alerts.append(
                _rule(
                    "alert",
                    f"Cxpulse{camel(slo['name'])}{alert['name']}",
                    expr,
                    {
                        "for": alert["for"],
                        "labels": {"severity": alert["severity"], "slo": slo["name"]},
                        "annotations": {
                            "summary": f"{slo['title']}: queue {QUEUE} is spending its error budget "
                            + ("fast" if alert["severity"] == "page" else "too fast to last the period"),
                            "description": f"In {QUEUE}, {VALUE} of {slo['description']} over the "
                            f"longer window: the budget burns at {spans} (scaled to open hours where "
                            "slo.yml says so).",
                            "runbook": f"docs/operations.md#slo-{slo['name'].replace('_', '-')}",
                        },
                    },
                )
            )
    groups.append({"name": "cxpulse-slo-alerts", "rules": alerts})
    return {"groups": groups}


def _represent(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def render(spec: dict[str, Any]) -> str:
    yaml.add_representer(str, _represent, Dumper=yaml.SafeDumper)
    body = yaml.safe_dump(generate(spec), sort_keys=False, width=200, allow_unicode=True)
    return (
        "# Generated by deploy/prometheus/slo.py from deploy/prometheus/slo.yml: edit those, then\n"
        "# run `make rules`. SLO recording rules and burn-rate alerts for every queue.\n" + body
    )


def main() -> None:
    text = render(yaml.safe_load(SPEC.read_text()))
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"{OUT} is stale: run python deploy/prometheus/slo.py")
        return
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
