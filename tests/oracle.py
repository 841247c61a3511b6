"""An independent reading of docs/kpis.md: expected Prometheus samples from a list of events.

Written from the definitions, not from the worker's code: it walks each ticket's and
call's events as a person would and lists the KPI facts, then applies the window rule.
It assumes no event is late (the tests set a grace longer than their history).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from metrics.definitions import CALL_WAIT_BUCKETS, TICKET_DURATION_BUCKETS

WINDOWS = {"5m": 300, "15m": 900, "1h": 3600}
HIST_BUCKETS = {"first_response_seconds": TICKET_DURATION_BUCKETS, "call_wait_seconds": CALL_WAIT_BUCKETS}


def _ts(ev: dict) -> float:
    return datetime.fromisoformat(ev["occurred_at"]).timestamp()


def facts_of(events: list[dict]) -> list[tuple[str, str, float, str, float | None]]:
    """(queue, channel, at, kind, duration) for every KPI fact the events complete."""
    by_entity: dict[str, list[dict]] = defaultdict(list)
    seen_ids: set[str] = set()
    for ev in events:
        if ev["event_id"] in seen_ids:
            continue
        seen_ids.add(ev["event_id"])
        by_entity[ev.get("ticket_id") or "call:" + ev["call_id"]].append(ev)
    out = []
    for evs in by_entity.values():
        created = [e for e in evs if e["type"] == "ticket.created"]
        if created:
            c = created[0]
            out.append((c["queue"], c["channel"], _ts(c), "tickets_created", None))
            replies = [e for e in evs if e["type"] == "ticket.replied" and e["author"] == "agent"]
            if replies:
                r = min(replies, key=_ts)
                out.append((r["queue"], r["channel"], _ts(r), "first_response", max(0.0, _ts(r) - _ts(c))))
        escalations = [e for e in evs if e["type"] == "ticket.escalated"]
        if escalations:
            e = escalations[0]
            out.append((e["queue"], e["channel"], _ts(e), "tickets_escalated", None))
        queued = [e for e in evs if e["type"] == "call.queued"]
        answered = [e for e in evs if e["type"] == "call.answered"]
        abandoned = [e for e in evs if e["type"] == "call.abandoned"]
        if queued:
            q = queued[0]
            out.append((q["queue"], q["channel"], _ts(q), "calls_offered", None))
        if answered and (not abandoned or _ts(answered[0]) <= _ts(abandoned[0])):
            a = answered[0]
            wait = max(0.0, _ts(a) - _ts(queued[0])) if queued else None
            out.append((a["queue"], a["channel"], _ts(a), "calls_answered", wait))
        elif abandoned:
            a = abandoned[0]
            out.append((a["queue"], a["channel"], _ts(a), "calls_abandoned", None))
    return out


def in_window(at: float, now: float, seconds: int, bucket: int = 60) -> bool:
    """docs/kpis.md: the window is the bucket holding `now` and the buckets before it, `seconds` in all."""
    return at // bucket * bucket >= now // bucket * bucket - seconds + bucket


def expected_samples(events: list[dict], now: float) -> dict[tuple[str, frozenset], float]:
    facts = facts_of(events)
    keys = {(q, c) for q, c, *_ in facts}
    exp: dict[tuple[str, frozenset], float] = {}

    def put(name: str, labels: dict[str, str], value: float) -> None:
        exp[(name, frozenset(labels.items()))] = value

    counter_of = {
        "tickets_created": "tickets_created",
        "tickets_escalated": "tickets_escalated",
        "first_response": "ticket_first_responses",
        "calls_offered": "calls_offered",
        "calls_answered": "calls_answered",
        "calls_abandoned": "calls_abandoned",
    }
    for q, c in keys:
        mine = [f for f in facts if f[0] == q and f[1] == c]
        labels = {"queue": q, "channel": c}
        for kind, counter in counter_of.items():
            put(f"cxpulse_{counter}_total", labels, sum(1 for f in mine if f[3] == kind))
        durations = {
            "first_response_seconds": [f[4] for f in mine if f[3] == "first_response"],
            "call_wait_seconds": [f[4] for f in mine if f[3] == "calls_answered" and f[4] is not None],
        }
        for hist, values in durations.items():
            put(f"cxpulse_{hist}_count", labels, len(values))
            put(f"cxpulse_{hist}_sum", labels, sum(values))
            for le in HIST_BUCKETS[hist]:
                put(f"cxpulse_{hist}_bucket", {**labels, "le": str(le)}, sum(1 for v in values if v <= le))
            put(f"cxpulse_{hist}_bucket", {**labels, "le": "+Inf"}, len(values))
        for window, seconds in WINDOWS.items():
            wl = {**labels, "window": window}
            inside = [f for f in mine if in_window(f[2], now, seconds)]
            n = {kind: sum(1 for f in inside if f[3] == kind) for kind in counter_of}
            for kind, counter in counter_of.items():
                put(f"cxpulse_window_{counter}", wl, n[kind])
            if n["tickets_created"]:
                put("cxpulse_ticket_escalation_ratio", wl, n["tickets_escalated"] / n["tickets_created"])
            if n["calls_offered"]:
                put("cxpulse_call_abandonment_ratio", wl, n["calls_abandoned"] / n["calls_offered"])
            frt = [f[4] for f in inside if f[3] == "first_response"]
            if frt:
                put("cxpulse_first_response_mean_seconds", wl, sum(frt) / len(frt))
            waits = [f[4] for f in inside if f[3] == "calls_answered" and f[4] is not None]
            if waits:
                put("cxpulse_call_wait_mean_seconds", wl, sum(waits) / len(waits))
    return exp


KPI_PREFIXES = (
    "cxpulse_tickets_",
    "cxpulse_ticket_",
    "cxpulse_calls_",
    "cxpulse_call_",
    "cxpulse_first_response",
    "cxpulse_window_",
)


def kpi_samples(samples: dict) -> dict:
    """The KPI part of a scrape (leaves out the worker's own process counters)."""
    return {k: v for k, v in samples.items() if k[0].startswith(KPI_PREFIXES)}
