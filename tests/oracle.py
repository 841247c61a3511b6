"""An independent reading of docs/kpis.md: expected Prometheus samples from a list of events.

Written from the definitions, not from the worker's code: it walks each ticket's, call's,
survey subject's and customer's events in arrival order, as a person with the event log
would, lists the KPI facts, then applies the window rule. It assumes no event is late (the
tests set a grace longer than their history).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from metrics.definitions import (
    CALL_WAIT_BUCKETS,
    HANDLE_BUCKETS,
    RESOLUTION_BUCKETS,
    SCORE_BUCKETS,
    TICKET_DURATION_BUCKETS,
    WRAP_UP_BUCKETS,
)

WINDOWS = {"5m": 300, "15m": 900, "1h": 3600}
HIST_BUCKETS = {
    "first_response_seconds": TICKET_DURATION_BUCKETS,
    "resolution_seconds": RESOLUTION_BUCKETS,
    "call_wait_seconds": CALL_WAIT_BUCKETS,
    "call_abandon_wait_seconds": CALL_WAIT_BUCKETS,
    "call_handle_seconds": HANDLE_BUCKETS,
    "ces_score": SCORE_BUCKETS,
    "after_call_work_seconds": WRAP_UP_BUCKETS,
}
COUNTERS = [
    "tickets_created", "tickets_escalated", "ticket_first_responses", "first_response_sla_breaches",
    "tickets_resolved", "tickets_reopened", "tickets_first_contact_resolved", "tickets_first_contact_voided",
    "complaints", "calls_offered", "calls_answered", "calls_answered_within_sla", "calls_abandoned",
    "calls_short_abandoned", "calls_handled", "call_blind_transfers", "call_consult_transfers", "call_holds",
    "call_hold_seconds", "callbacks_requested", "callbacks_handled", "contacts", "repeat_contacts",
    "conversions", "csat_responses", "csat_satisfied", "nps_responses", "nps_promoters", "nps_passives",
    "nps_detractors",
    "agent_available_seconds", "agent_busy_seconds", "agent_wrap_up_seconds", "agent_away_seconds",
    "agent_missed_offers", "agent_events_late",
]  # fmt: skip
ON_FLOOR = ("available", "busy", "wrap_up", "away")
DAY = 86400.0
TODAY_COUNTERS = [
    "calls_offered", "calls_answered", "calls_answered_within_sla", "calls_abandoned",
    "calls_short_abandoned", "calls_handled", "tickets_created", "ticket_first_responses",
    "first_response_sla_breaches", "tickets_resolved",
]  # fmt: skip


TODAY_SUMS = {"call_wait_seconds": "answer_wait_seconds", "call_handle_seconds": "handle_seconds"}


def today_start(now: float, hour: float) -> float:
    """The start of the UTC day holding ``now`` that begins ``hour`` hours after midnight."""
    reset = hour * 3600
    return (now - reset) // DAY * DAY + reset


@dataclass
class Rules:
    """The thresholds a test runs the worker with (defaults as documented)."""

    frt_target: float = 3600.0
    service_level: float = 20.0
    short_abandon: float = 5.0
    hourly_cost: float = 30.0
    repeat_days: float = 7.0
    conversion_days: float = 7.0
    customer_base: int = 0
    sl_target: float = 0.8
    max_occupancy: float = 0.85
    abandonment_limit: float = 0.10
    escalation_limit: float = 0.15
    breach_limit: float = 0.20
    frt_objective: float = 0.9
    open_grace: float = 900.0
    day_start_hour: float = 0.0  # when "today so far" starts again, in UTC (no calendars here)
    priorities: tuple[str, ...] = ("urgent", "high", "medium", "normal", "low")
    priority_targets: dict[str, float] = field(default_factory=dict)
    per_queue: dict[str, dict[str, float]] = field(default_factory=dict)

    def q(self, queue: str, name: str) -> float:
        return self.per_queue.get(queue, {}).get(name, getattr(self, name))


@dataclass
class F:
    queue: str
    channel: str
    at: float
    counts: dict[str, int]
    obs: dict[str, float] = field(default_factory=dict)
    agent: str | None = None
    agent_seen: bool = False  # an agent entered a state in this queue and channel


def ts(ev: dict) -> float:
    return datetime.fromisoformat(ev["occurred_at"]).timestamp()


def _first(evs: list[dict], type_: str) -> dict | None:
    return next((e for e in evs if e["type"] == type_), None)


def _ticket(
    evs: list[dict], r: Rules, out: list[F], open_periods: list[tuple[str, str, float]], statuses: list[tuple]
) -> None:
    created = _first(evs, "ticket.created")
    esc = _first(evs, "ticket.escalated")
    if esc:
        out.append(
            F(esc["queue"], esc["channel"], ts(esc), {"tickets_escalated": 1}, agent=esc.get("agent_id"))
        )
    agent_replies = [e for e in evs if e["type"] == "ticket.replied" and e["author"] == "agent"]
    for e in agent_replies:  # every agent reply is agent work, counted at its own time
        out.append(F(e["queue"], e["channel"], ts(e), {}, agent=e.get("agent_id")))
    if not created:
        return
    c_at = ts(created)
    counts = {"tickets_created": 1}
    if "complaint" in created.get("tags", []):
        counts["complaints"] = 1
    out.append(F(created["queue"], created["channel"], c_at, counts))
    before = [e for e in agent_replies if evs.index(e) < evs.index(created)]
    first = min(before, key=ts) if before else (agent_replies[0] if agent_replies else None)
    if first:
        frt = max(0.0, ts(first) - c_at)
        counts = {"ticket_first_responses": 1}
        # The priority is the latest one known when the reply is judged: on its own arrival, or
        # on the ticket's creation for a reply that arrived before it.
        judged_at = max(evs.index(first), evs.index(created))
        known = [e["priority"] for e in evs[: judged_at + 1] if e.get("priority") is not None]
        label = None
        if known and r.priorities:
            label = known[-1].strip().lower()
            label = label if label in r.priorities else "other"
        target = r.priority_targets.get(label, r.q(first["queue"], "frt_target"))
        if frt > target:
            counts["first_response_sla_breaches"] = 1
        if label is not None:
            counts[f"ticket_first_responses@{label}"] = 1
            counts[f"first_response_sla_breaches@{label}"] = int(frt > target)
        out.append(F(first["queue"], first["channel"], ts(first), counts, {"first_response_seconds": frt}))
    # Open periods, resolutions, reopens and first-contact resolution, in arrival order.
    is_open, since, resolutions, replies_so_far, fcr, void_pending = True, c_at, 0, 0, False, False
    for e in evs:
        if e["type"] == "ticket.replied" and e["author"] == "agent":
            replies_so_far += 1
            if void_pending:
                void_pending = False
                out.append(F(e["queue"], e["channel"], ts(e), {"tickets_first_contact_voided": 1}))
        elif e["type"] == "ticket.resolved" and is_open and evs.index(e) > evs.index(created):
            counts = {"tickets_resolved": 1}
            if resolutions == 0 and replies_so_far < 2:
                counts["tickets_first_contact_resolved"] = 1
                fcr = True
            resolutions += 1
            is_open = False
            out.append(
                F(e["queue"], e["channel"], ts(e), counts, {"resolution_seconds": max(0.0, ts(e) - since)},
                  e.get("agent_id"))
            )  # fmt: skip
        elif e["type"] == "ticket.reopened" and not is_open and resolutions:
            is_open, since = True, ts(e)
            void_pending = fcr
            out.append(F(e["queue"], e["channel"], ts(e), {"tickets_reopened": 1}))
    if is_open:
        open_periods.append((created["queue"], created["channel"], since))
        status, status_since = _status(evs, created)
        statuses.append((created["queue"], created["channel"], status, status_since))


def _status(evs: list[dict], created: dict) -> tuple[str | None, float]:
    """docs/kpis.md: new until an agent's first reply, then pending after an agent reply and open
    after a customer's (or a reopen); a new ticket is new since its creation."""
    replied = any(e["type"] == "ticket.replied" and e["author"] == "agent" for e in evs[: evs.index(created)])
    status, since = ("pending", ts(created)) if replied else ("new", ts(created))
    for e in evs[evs.index(created) + 1 :]:
        kind, author = e["type"], e.get("author")
        if kind == "ticket.resolved":
            status = None
        elif kind == "ticket.reopened" and status is None:
            status, since = "open", ts(e)
        elif status is None:
            continue
        elif kind == "ticket.replied" and author == "agent":
            replied = True
            if status != "pending":
                status, since = "pending", ts(e)
        elif kind == "ticket.replied" and author == "customer" and replied and status != "open":
            status, since = "open", ts(e)
    return status, since


def _call(evs: list[dict], r: Rules, out: list[F], waiting: list[tuple[str, str, float]]) -> None:
    queued = _first(evs, "call.queued")
    q_at = ts(queued) if queued else None
    leaving = ("call.answered", "call.abandoned", "call.ended", "call.callback_requested")
    if queued:
        out.append(F(queued["queue"], queued["channel"], q_at, {"calls_offered": 1}))
        if not any(e["type"] in leaving for e in evs):
            waiting.append((queued["queue"], queued["channel"], q_at))
    _call_service(evs, out)
    answer = abandon = callback = None
    for e in evs:
        if answer is not None or abandon is not None or callback is not None:
            break  # the caller is out of the queue: nothing later answers or abandons the call
        if e["type"] == "call.answered":
            answer = e
        elif e["type"] == "call.abandoned":
            abandon = e
        elif e["type"] == "call.callback_requested":
            callback = e
            out.append(F(e["queue"], e["channel"], ts(e), {"callbacks_requested": 1}))
    if answer:
        counts, obs = {"calls_answered": 1}, {}
        if q_at is not None:
            wait = max(0.0, ts(answer) - q_at)
            obs["call_wait_seconds"] = wait
            if wait <= r.q(answer["queue"], "service_level"):
                counts["calls_answered_within_sla"] = 1
        out.append(F(answer["queue"], answer["channel"], ts(answer), counts, obs, answer.get("agent_id")))
        end = _first(evs, "call.ended")
        if end:
            handle = max(0.0, ts(end) - ts(answer))
            obs = {"call_handle_seconds": handle}
            out.append(
                F(end["queue"], end["channel"], ts(end), {"calls_handled": 1}, obs, end.get("agent_id"))
            )
    elif abandon:
        short = q_at is not None and ts(abandon) - q_at < r.q(abandon["queue"], "short_abandon")
        waited = {} if short or q_at is None else {"call_abandon_wait_seconds": ts(abandon) - q_at}
        out.append(
            F(
                abandon["queue"],
                abandon["channel"],
                ts(abandon),
                {"calls_short_abandoned" if short else "calls_abandoned": 1},
                waited,
            )
        )


def _call_service(evs: list[dict], out: list[F]) -> None:
    """Transfers (each), holds (a hold from `held` to `resumed` or the call's end) and the callback
    reaching the caller (once)."""
    held: float | None = None
    ended = False
    for e in evs:
        kind, at = e["type"], ts(e)
        where = (e["queue"], e["channel"])
        if kind == "call.transferred":
            out.append(F(*where, at, {f"call_{e.get('transfer', 'blind')}_transfers": 1}))
        elif kind == "call.held" and held is None and not ended:
            held = at
            out.append(F(*where, at, {"call_holds": 1}))
        elif kind in ("call.resumed", "call.ended") and held is not None:
            out.append(F(*where, at, {"call_hold_seconds": max(0.0, at - held)}))
            held = None
        if kind == "call.ended":
            ended = True
    handled = _first(evs, "call.callback_handled")
    if handled:
        out.append(F(handled["queue"], handled["channel"], ts(handled), {"callbacks_handled": 1}))


def _survey(evs: list[dict], out: list[F]) -> None:
    done: set[str] = set()
    for e in evs:
        if e["survey"] in done:
            continue
        done.add(e["survey"])
        s = e["score"]
        if e["survey"] == "csat":
            counts = {"csat_responses": 1, **({"csat_satisfied": 1} if s >= 4 else {})}
            out.append(F(e["queue"], e["channel"], ts(e), counts))
        elif e["survey"] == "nps":
            kind = "nps_promoters" if s >= 9 else "nps_passives" if s >= 7 else "nps_detractors"
            out.append(F(e["queue"], e["channel"], ts(e), {"nps_responses": 1, kind: 1}))
        else:
            out.append(F(e["queue"], e["channel"], ts(e), {}, {"ces_score": float(s)}))


def _customers(events: list[dict], r: Rules, out: list[F]) -> list[tuple[float, str]]:
    """Contacts, repeats and conversions per customer; returns lifecycle (time, kind) items.

    docs/kpis.md: a contact is a repeat when the customer had another contact in the N days
    before it; it is converted when a purchase follows within M days, counted at the first
    such purchase.
    """
    lifecycle: list[tuple[float, str]] = []
    joined: set[str] = set()
    churned: set[str] = set()
    contacts: dict[str, list[dict]] = defaultdict(list)
    purchases: dict[str, list[float]] = defaultdict(list)
    first_of_entity: set[str] = set()
    for e in events:
        cid = e.get("customer_id")
        if e["type"] in ("ticket.created", "call.queued"):
            entity = e.get("ticket_id") or e["call_id"]
            if entity in first_of_entity:
                continue
            first_of_entity.add(entity)
            if cid:
                contacts[cid].append(e)
        elif e["type"] == "customer.joined" and cid not in joined:
            joined.add(cid)
            lifecycle.append((ts(e), "joined"))
        elif e["type"] == "customer.churned" and cid not in churned:
            churned.add(cid)
            lifecycle.append((ts(e), "churned"))
        elif e["type"] == "customer.purchased":
            purchases[cid].append(ts(e))
    for cid, mine in contacts.items():
        for e in mine:
            counts = {"contacts": 1}
            if any(ts(e) - r.repeat_days * DAY <= ts(o) < ts(e) for o in mine if o is not e):
                counts["repeat_contacts"] = 1
            out.append(F(e["queue"], e["channel"], ts(e), counts))
            after = [p for p in purchases[cid] if ts(e) <= p <= ts(e) + r.conversion_days * DAY]
            if after:
                out.append(F(e["queue"], e["channel"], min(after), {"conversions": 1}))
    return lifecycle


def _agents(events: list[dict], out: list[F], now: float) -> dict[tuple[str, str, str], int]:
    """docs/kpis.md, agent states: each agent's changes in arrival order; one older than the
    agent's newest is late (counted, applied to nothing); a spell is counted when it ends, in the
    queues served during it. Returns the agents logged in now per (queue, channel, state): those
    whose state began within 12 hours, to the hour."""
    now_in: dict[str, tuple[str, float, list[str], str]] = {}
    newest: dict[str, float] = {}
    runs: dict[str, int] = defaultdict(int)  # offers missed in a row in the current available spell
    flagged: dict[str, tuple[list[str], str, float]] = {}
    for e in events:
        if e["type"] == "agent.offer_missed":
            who, at = e["agent_id"], ts(e)
            out.append(F(e["queue"], e.get("channel", "phone"), at, {"agent_missed_offers": 1}))
            state, since, served, served_channel = now_in.get(who, ("offline", at, [], "phone"))
            if state == "available" and at >= since:
                runs[who] += 1
                if runs[who] >= 3 and who not in flagged:
                    flagged[who] = (served, served_channel, at)
            continue
        if not e["type"].startswith("agent."):
            continue
        who, at, queues = e["agent_id"], ts(e), sorted(set(e.get("queues", [])))
        channel = e.get("channel", "phone")
        if who in newest and at < newest[who]:
            for q in queues:
                out.append(F(q, channel, at, {"agent_events_late": 1}))
            continue
        newest[who] = at
        state, since, served, served_channel = now_in.get(who, ("offline", at, [], channel))
        if (e["state"], queues, channel) == (state, served, served_channel):
            continue
        if state != "offline":
            for q in served:
                obs = {"after_call_work_seconds": at - since} if state == "wrap_up" else {}
                out.append(F(q, served_channel, at, {f"agent_{state}_seconds": at - since}, obs))
        if e["state"] != "offline":
            for q in queues:
                out.append(F(q, channel, at, {}, agent_seen=True))
        now_in[who] = (e["state"], at, queues, channel)
        runs[who] = 0  # any change of state ends a run of missed offers
        flagged.pop(who, None)
    floor: dict[tuple[str, str, str], int] = defaultdict(int)
    for state, since, served, channel in now_in.values():
        if state != "offline" and since // 3600 * 3600 >= now - 12 * 3600:
            for q in served:
                floor[(q, channel, state)] += 1
    for served, channel, since in flagged.values():  # under a "state" of their own
        if since // 3600 * 3600 >= now - 12 * 3600:
            for q in served:
                floor[(q, channel, "missing_offers")] += 1
    return floor


def _erlang_c(n: int, a: float) -> float:
    """The textbook formula, factorials and all (fine for the small queues of the tests)."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def _staffing(offered: int, aht: float, staffed: int | None, q: str, r: Rules) -> dict[str, float]:
    """docs/kpis.md, staffing: Erlang C on the last 15 minutes' calls and handle time."""
    a = offered / 900 * aht
    t = r.q(q, "service_level")

    def level(n: int) -> float:
        return 1 - _erlang_c(n, a) * math.exp(-(n - a) * t / aht) if n > a else 0.0

    n = 1
    while not (n > a and a / n <= r.q(q, "max_occupancy") and level(n) >= r.q(q, "sl_target")):
        n += 1
    out = {"offered_load_erlangs": a, "required_agents": n}
    if staffed is not None:
        out["predicted_service_level_ratio"] = level(staffed)
        out["predicted_speed_of_answer_seconds"] = (
            _erlang_c(staffed, a) * aht / (staffed - a) if staffed > a else math.inf
        )
        out["staffing_gap_agents"] = n - staffed
    return out


def dedupe(events: list[dict]) -> list[dict]:
    seen: set[str] = set()
    out = []
    for ev in events:
        if ev["event_id"] not in seen:
            seen.add(ev["event_id"])
            out.append(ev)
    return out


def in_window(at: float, now: float, seconds: int, bucket: int = 60) -> bool:
    """docs/kpis.md: the window is the bucket holding `now` and the buckets before it, `seconds` in all."""
    return at // bucket * bucket >= now // bucket * bucket - seconds + bucket


def expected_samples(
    events: list[dict], now: float, rules: Rules | None = None
) -> dict[tuple[str, frozenset], float]:
    r = rules or Rules()
    events = dedupe(events)
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for ev in events:
        if ev["type"].startswith("ticket."):
            groups[("t", ev["ticket_id"])].append(ev)
        elif ev["type"].startswith("call."):
            groups[("c", ev["call_id"])].append(ev)
        elif ev["type"] == "survey.submitted":
            groups[("s", ev.get("ticket_id") or ev["call_id"])].append(ev)
    facts: list[F] = []
    open_periods: list[tuple[str, str, float]] = []
    statuses: list[tuple[str, str, str, float]] = []
    waiting: list[tuple[str, str, float]] = []
    for (kind, _), evs in groups.items():
        if kind == "t":
            _ticket(evs, r, facts, open_periods, statuses)
        elif kind == "c":
            _call(evs, r, facts, waiting)
        else:
            _survey(evs, facts)
    lifecycle = _customers(events, r, facts)
    floor = _agents(events, facts, now)

    exp: dict[tuple[str, frozenset], float] = {}

    def put(name: str, labels: dict[str, str], value: float) -> None:
        exp[(name, frozenset(labels.items()))] = value

    for q, c in {(f.queue, f.channel) for f in facts}:
        mine = [f for f in facts if (f.queue, f.channel) == (q, c)]
        labels = {"queue": q, "channel": c}
        for name in COUNTERS:
            put(f"cxpulse_{name}_total", labels, sum(f.counts.get(name, 0) for f in mine))
        for key in {k for f in mine for k in f.counts if "@" in k}:
            name, priority = key.split("@")
            total = sum(f.counts.get(key, 0) for f in mine)
            put(f"cxpulse_{name}_by_priority_total", {**labels, "priority": priority}, total)
        for hist, bounds in HIST_BUCKETS.items():
            values = [f.obs[hist] for f in mine if hist in f.obs]
            put(f"cxpulse_{hist}_count", labels, len(values))
            put(f"cxpulse_{hist}_sum", labels, sum(values))
            for le in bounds:
                put(f"cxpulse_{hist}_bucket", {**labels, "le": str(le)}, sum(1 for v in values if v <= le))
            put(f"cxpulse_{hist}_bucket", {**labels, "le": "+Inf"}, len(values))
        opened = [since for oq, oc, since in open_periods if (oq, oc) == (q, c)]
        put("cxpulse_tickets_open", labels, len(opened))
        if opened:
            put("cxpulse_oldest_open_ticket_age_seconds", labels, now - min(s // 60 * 60 for s in opened))
        mine_status = [(st, since) for sq, sc, st, since in statuses if (sq, sc) == (q, c)]
        for status in ("new", "open", "pending"):
            put("cxpulse_tickets_open_by_status", {**labels, "status": status},
                sum(1 for st, _ in mine_status if st == status))  # fmt: skip
        new = [since // 60 * 60 for st, since in mine_status if st == "new"]
        put("cxpulse_oldest_unanswered_ticket_age_seconds", labels, now - min(new) if new else 0.0)
        for state in ON_FLOOR:
            put("cxpulse_agents", {**labels, "state": state}, floor.get((q, c, state), 0))
        put("cxpulse_agents_missing_offers", labels, floor.get((q, c, "missing_offers"), 0))
        recent = [f for f in mine if in_window(f.at, now, 900)]
        offered = sum(f.counts.get("calls_offered", 0) for f in recent)
        handles = [f.obs["call_handle_seconds"] for f in recent if "call_handle_seconds" in f.obs] or [
            f.obs["call_handle_seconds"] for f in mine if "call_handle_seconds" in f.obs
        ]
        if offered and handles and sum(handles) > 0:
            staffed = None
            if any(f.agent_seen for f in mine):
                staffed = sum(floor.get((q, c, state), 0) for state in ("available", "busy", "wrap_up"))
            for name, value in _staffing(offered, sum(handles) / len(handles), staffed, q, r).items():
                put(f"cxpulse_{name}", labels, value)
        callers = [int(since) for wq, wc, since in waiting if (wq, wc) == (q, c)]
        put("cxpulse_calls_waiting", labels, len(callers))
        put("cxpulse_longest_call_wait_seconds", labels, now - min(callers) if callers else 0.0)
        put("cxpulse_events_late_total", labels, 0)
        day0 = today_start(now, r.q(q, "day_start_hour"))
        today = [f for f in mine if day0 <= f.at]
        for name in TODAY_COUNTERS:
            put(f"cxpulse_today_{name}", labels, sum(f.counts.get(name, 0) for f in today))
        for hist, name in TODAY_SUMS.items():
            put(f"cxpulse_today_{name}", labels, sum(f.obs[hist] for f in today if hist in f.obs))
        put("cxpulse_today_start_timestamp_seconds", labels, day0)
        for window, seconds in WINDOWS.items():
            wl = {**labels, "window": window}
            inside = [f for f in mine if in_window(f.at, now, seconds)]
            n = {name: sum(f.counts.get(name, 0) for f in inside) for name in COUNTERS}
            for name in COUNTERS:
                put(f"cxpulse_window_{name}", wl, n[name])
            ratios = {
                "ticket_escalation_ratio": (n["tickets_escalated"], n["tickets_created"]),
                "first_response_sla_breach_ratio": (
                    n["first_response_sla_breaches"],
                    n["ticket_first_responses"],
                ),
                "first_contact_resolution_ratio": (
                    n["tickets_first_contact_resolved"] - n["tickets_first_contact_voided"],
                    n["tickets_resolved"],
                ),
                "call_abandonment_ratio": (
                    n["calls_abandoned"],
                    n["calls_offered"] - n["calls_short_abandoned"],
                ),
                "service_level_ratio": (
                    n["calls_answered_within_sla"],
                    n["calls_offered"] - n["calls_short_abandoned"],
                ),
                "repeat_contact_ratio": (n["repeat_contacts"], n["contacts"]),
                "conversion_ratio": (n["conversions"], n["contacts"]),
                "csat_ratio": (n["csat_satisfied"], n["csat_responses"]),
                "nps_score": (100 * (n["nps_promoters"] - n["nps_detractors"]), n["nps_responses"]),
                "agent_occupancy_ratio": (
                    n["agent_busy_seconds"] + n["agent_wrap_up_seconds"],
                    sum(n[f"agent_{state}_seconds"] for state in ON_FLOOR),
                ),
            }
            for name, (num, den) in ratios.items():
                if den > 0:
                    put(f"cxpulse_{name}", wl, num / den)
            means = {
                "first_response_seconds": "first_response_mean_seconds",
                "resolution_seconds": "resolution_mean_seconds",
                "call_wait_seconds": "call_wait_mean_seconds",
                "call_abandon_wait_seconds": "call_abandon_wait_mean_seconds",
                "call_handle_seconds": "call_handle_mean_seconds",
                "ces_score": "ces_mean_score",
                "after_call_work_seconds": "after_call_work_mean_seconds",
            }
            for hist, name in means.items():
                values = [f.obs[hist] for f in inside if hist in f.obs]
                if values:
                    put(f"cxpulse_{name}", wl, sum(values) / len(values))
            frt = sorted(f.obs["first_response_seconds"] for f in inside if "first_response_seconds" in f.obs)
            if frt:
                put("cxpulse_first_response_p90_seconds", wl, _p90(frt))
            agents = {f.agent for f in inside if f.agent}
            put("cxpulse_window_active_agents", wl, len(agents))
            handled = n["tickets_resolved"] + n["calls_handled"]
            hours = len(agents) * seconds / 3600
            if hours:
                put("cxpulse_resolutions_per_agent_hour", wl, handled / hours)
            if handled:
                put("cxpulse_cost_per_conversation", wl, hours * r.q(q, "hourly_cost") / handled)
    # Each queue's targets, for those with facts and those configured; no calendars here: open.
    for q in {f.queue for f in facts} | set(r.per_queue):
        for name, key in (
            ("service_level_target_ratio", "sl_target"),
            ("service_level_threshold_seconds", "service_level"),
            ("short_abandon_threshold_seconds", "short_abandon"),
            ("first_response_target_seconds", "frt_target"),
            ("abandonment_limit_ratio", "abandonment_limit"),
            ("escalation_limit_ratio", "escalation_limit"),
            ("first_response_breach_limit_ratio", "breach_limit"),
            ("first_response_objective_ratio", "frt_objective"),
            ("queue_open_grace_seconds", "open_grace"),
        ):
            put(f"cxpulse_{name}", {"queue": q}, r.q(q, key))
        put("cxpulse_queue_open", {"queue": q}, 1)
        put("cxpulse_queue_open_share_ratio", {"queue": q}, 1.0)
        put("cxpulse_queue_open_since_timestamp_seconds", {"queue": q}, 0.0)  # open since ever
    if lifecycle:
        _lifecycle_samples(lifecycle, now, r.customer_base, put)
    return exp


def _p90(values: list[float]) -> float:
    """histogram_quantile's estimate: linear inside the bucket holding the 90 % rank."""
    bounds = TICKET_DURATION_BUCKETS
    rank = 0.9 * len(values)
    below = 0
    for i, upper in enumerate(bounds):
        lower = bounds[i - 1] if i else 0.0
        n = sum(1 for v in values if lower < v <= upper or (i == 0 and v == 0))
        if n and below + n >= rank:
            return lower + (upper - lower) * (rank - below) / n
        below += n
    return bounds[-1]


def _lifecycle_samples(items: list[tuple[float, str]], now: float, base: int, put) -> None:
    joined = sum(1 for _, k in items if k == "joined")
    churned = sum(1 for _, k in items if k == "churned")
    put("cxpulse_customers_joined_total", {}, joined)
    put("cxpulse_customers_churned_total", {}, churned)
    put("cxpulse_customers_active", {}, base + joined - churned)
    day = datetime.fromtimestamp(now, UTC).date()
    for period in ("day", "previous_day", "month", "previous_month"):
        if period in ("day", "previous_day"):
            start_date = datetime.fromordinal(day.toordinal() - (period == "previous_day")).date()
            start = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC).timestamp()
            end = start + DAY
        else:
            y, m = day.year, day.month
            if period == "previous_month":
                y, m = (y - 1, 12) if m == 1 else (y, m - 1)
            start = datetime(y, m, 1, tzinfo=UTC).timestamp()
            end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC).timestamp()
        cs = base + sum(1 if k == "joined" else -1 for t, k in items if t < start)
        cn = sum(1 for t, k in items if start <= t < end and k == "joined")
        lost = sum(1 for t, k in items if start <= t < end and k == "churned")
        if cs > 0:
            ce = cs + cn - lost
            put("cxpulse_customer_retention_ratio", {"period": period}, (ce - cn) / cs)
            put("cxpulse_customer_churn_ratio", {"period": period}, lost / cs)


KPI_PREFIXES = (
    "cxpulse_tickets_", "cxpulse_ticket_", "cxpulse_calls_", "cxpulse_call_", "cxpulse_first_",
    "cxpulse_window_", "cxpulse_resolution", "cxpulse_oldest", "cxpulse_complaints", "cxpulse_contacts",
    "cxpulse_repeat_", "cxpulse_conversion", "cxpulse_csat", "cxpulse_nps", "cxpulse_ces", "cxpulse_service_",
    "cxpulse_customer", "cxpulse_cost_", "cxpulse_resolutions_", "cxpulse_events_late", "cxpulse_longest_",
    "cxpulse_agent", "cxpulse_after_call", "cxpulse_offered_", "cxpulse_required_", "cxpulse_predicted_",
    "cxpulse_staffing_", "cxpulse_short_abandon_", "cxpulse_abandonment_", "cxpulse_escalation_",
    "cxpulse_queue_open", "cxpulse_today_", "cxpulse_callbacks_",
)  # fmt: skip


# A queue's targets, limits and opening: the same on every worker (they come from settings), so
# every worker exports those of the queues it serves and those configured, and rules take max.
POLICY_NAMES = {
    "cxpulse_service_level_target_ratio", "cxpulse_service_level_threshold_seconds",
    "cxpulse_short_abandon_threshold_seconds", "cxpulse_first_response_target_seconds",
    "cxpulse_first_response_objective_ratio", "cxpulse_abandonment_limit_ratio",
    "cxpulse_escalation_limit_ratio", "cxpulse_first_response_breach_limit_ratio",
    "cxpulse_queue_open", "cxpulse_queue_open_share_ratio", "cxpulse_queue_open_since_timestamp_seconds",
    "cxpulse_queue_open_grace_seconds",
}  # fmt: skip


def kpi_samples(samples: dict) -> dict:
    """The KPI part of a scrape (leaves out the worker's own process counters)."""
    return {k: v for k, v in samples.items() if k[0].startswith(KPI_PREFIXES)}


def expected_agents(events: list[dict], now: float, rules: Rules | None = None) -> dict[str, dict]:
    """docs/kpis.md, "Agents one by one": what ``/agents`` shows of each agent at ``now``, by id.

    State changes in arrival order, one older than the agent's newest ignored; calls handled
    from this oracle's own call facts, counted in the UTC day holding ``now``; occupancy the
    busy and wrap-up share of the logged-in time of the last hour, each spell clipped to it.
    """
    events = dedupe(events)
    start = today_start(now, 0.0)
    calls: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        if e["type"].startswith("call."):
            calls[e["call_id"]].append(e)
    facts: list[F] = []
    for evs in calls.values():
        _call(evs, rules or Rules(), facts, [])
    handled: dict[str, list[float]] = defaultdict(list)
    for f in facts:
        if f.counts.get("calls_handled") and f.agent and f.at >= start:
            handled[f.agent].append(f.obs["call_handle_seconds"])
    current: dict[str, list] = {}  # agent -> [state, since, queues, channel]
    newest: dict[str, float] = {}
    spells: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    missed: dict[str, int] = defaultdict(int)
    runs: dict[str, int] = defaultdict(int)
    flagged: set[str] = set()
    for e in events:
        if e["type"] == "agent.offer_missed":
            who, at = e["agent_id"], ts(e)
            if at >= start:
                missed[who] += 1
            state, since = current.get(who, ["offline", None])[:2]
            if state == "available" and at >= since:
                runs[who] += 1
                if runs[who] >= 3:
                    flagged.add(who)
        elif e["type"] == "agent.state_changed":
            who, at = e["agent_id"], ts(e)
            queues, channel = sorted(set(e.get("queues", []))), e.get("channel", "phone")
            if who in newest and at < newest[who]:
                continue
            newest[who] = at
            state, since, served, served_channel = current.get(who, ["offline", None, [], channel])
            if [e["state"], queues, channel] == [state, served, served_channel]:
                continue
            if state != "offline" and since is not None:
                spells[who].append((state, since, at))
            current[who] = [e["state"], at, queues, channel]
            runs[who] = 0
            flagged.discard(who)
    rows: dict[str, dict] = {}
    for who in set(current) | set(handled) | set(missed):
        state, since, queues, channel = current.get(who, ["offline", None, [], "phone"])
        mine = list(spells[who]) + ([(state, since, now)] if state != "offline" else [])
        seconds: dict[str, float] = defaultdict(float)
        for name, began, ended in mine:
            seconds[name] += max(0.0, min(ended, now) - max(began, now - 3600))
        logged_in = sum(seconds[s] for s in ("available", "busy", "wrap_up", "away"))
        occupancy = (seconds["busy"] + seconds["wrap_up"]) / logged_in if logged_in > 0 else None
        row = {
            "state": state,
            "since": since,
            "queues": queues,
            "channel": channel,
            "calls_handled_today": len(handled[who]),
            "handle_seconds_today": sum(handled[who]),
            "missed_offers_today": missed[who],
            "missed_in_a_row": runs[who] if state == "available" else 0,
            "flagged": who in flagged,
            "occupancy_1h": occupancy,
        }
        if state != "offline" or handled[who] or missed[who] or occupancy is not None:
            rows[who] = row
    return rows


def agents_differ(events: list[dict], workers: list) -> list[str]:
    """How the workers' /agents differ from the oracle's: each agent on one worker only, each
    row as the oracle has it at the moment the worker answered (empty: they agree)."""
    documents = [w.agents() for w in workers]  # each: {"at": ..., "agents": [...]}
    seen: dict[str, int] = {}
    problems = []
    for n, doc in enumerate(documents):
        want = expected_agents(events, doc["at"])
        for row in doc["agents"]:
            agent = row["agent"]
            if agent in seen:
                problems.append(f"{agent} on workers {seen[agent]} and {n}")
            seen[agent] = n
            expected = want.get(agent)
            got = {k: row[k] for k in (expected or {})}
            if expected is None or not same_row(got, expected):
                problems.append(f"{agent}: got {got or row}, want {expected}")
    times = sorted(doc["at"] for doc in documents)
    # Shown both when the first and when the last worker answered: on some worker for sure.
    settled = set(expected_agents(events, times[0])) & set(expected_agents(events, times[-1]))
    missing = sorted(settled - set(seen))
    if missing:
        problems.append(f"agents on no worker: {missing[:5]} ({len(missing)})")
    return problems


def same_row(got: dict, want: dict) -> bool:
    def close(a: object, b: object) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return a is not None and b is not None and abs(a - b) <= 1e-6 * max(1.0, abs(b))
        return a == b

    return all(close(got[k], want[k]) for k in want)
