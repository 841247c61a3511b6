"""Agents one by one: an agent's day (calls handled, handle time, missed offers) counted from its
queue's own day start, its last hour of spells (occupancy), and the rows /agents serves."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
from test_today import KOLKATA, at, policy

from metrics.contract.events import FAMILIES
from metrics.engine.rules.agents import agent_step
from metrics.engine.steps import entity_step, process_entity, work_hop
from metrics.export.agents_view import agent_row, agent_rows, agents_document
from metrics.model import WIRE_FORMAT
from metrics.policy import Policy

ADAPTER = FAMILIES["agents"].adapter
CALLS = FAMILIES["calls"].adapter


def iso(when: float) -> str:
    return datetime.fromtimestamp(when, ZoneInfo("UTC")).isoformat()


def agent_event(kind: str, when: float, **fields: object):
    _ids[0] += 1
    doc = {"type": kind, "event_id": f"x{_ids[0]}", "agent_id": "A1", "occurred_at": iso(when), **fields}
    return ADAPTER.validate_python(doc)


_ids = [0]


def change(state: str, when: float, queues: tuple[str, ...] = ("billing",)):
    return agent_event("agent.state_changed", when, state=state, queues=list(queues))


def miss(when: float, queue: str = "billing"):
    return agent_event("agent.offer_missed", when, queue=queue)


def work(when: float, handle: float, queue: str = "billing", event_id: str = "e1") -> dict:
    """The agent-work message a handled call sends (as it travels: the engine's own routing)."""
    (sent,) = [s for s in route_call(when, handle, queue, event_id) if s.target == "agent-work"]
    return sent.payload


def route_call(when: float, handle: float, queue: str, event_id: str) -> list:
    """A call answered and ended by A1, through the call entity: what its end sends."""
    table: dict = {}
    rules = Policy()
    call = {"call_id": f"C-{event_id}", "queue": queue, "channel": "phone", "agent_id": "A1"}
    sent: list = []
    for kind, moment, eid in (
        ("call.answered", when - handle, f"{event_id}a"),
        ("call.ended", when, event_id),
    ):
        event = CALLS.validate_python({"type": kind, "event_id": eid, "occurred_at": iso(moment), **call})
        step = entity_step("calls", event, rules, "calls:0")
        _, sent = process_entity(table, call["call_id"], eid, step, "calls:0", 0, moment)
    return sent


def apply_work(state: dict | None, message: dict, rules: Policy) -> dict:
    table = {} if state is None else {"A1": state}
    work_id, step = work_hop(message, rules)
    process_entity(table, "A1", work_id, step, "agent-work:0", 1, message["at"])
    return table["A1"]


def test_a_handled_call_sends_its_agent_the_work_with_its_own_id() -> None:
    message = work(at("2026-12-07T10:04:00"), 240.0, event_id="ev-9")
    assert message == {"v": WIRE_FORMAT, "event_id": "work:ev-9", "at": at("2026-12-07T10:04:00"),
                       "queue": "billing", "calls_handled": 1, "handle_seconds": 240.0}  # fmt: skip


def test_the_agents_day_starts_at_its_queues_day_start_and_work_of_a_day_over_is_left_out() -> None:
    rules = policy()  # billing's day: Paris midnight
    state = apply_work(None, work(at("2026-12-07T23:50:00"), 100.0, event_id="a"), rules)
    state = apply_work(state, work(at("2026-12-07T23:55:00"), 200.0, event_id="b"), rules)
    assert state["today"] == {"start": at("2026-12-07T00:00"), "queue": "billing", "calls_handled": 2,
                              "handle_seconds": 300.0}  # fmt: skip
    # Redelivered: the ledger knows its id.
    state = apply_work(state, work(at("2026-12-07T23:55:00"), 200.0, event_id="b"), rules)
    assert state["today"]["calls_handled"] == 2
    # Paris' midnight: a new day from zero; then a late call of the day before changes nothing.
    state = apply_work(state, work(at("2026-12-08T00:05:00"), 60.0, event_id="c"), rules)
    state = apply_work(state, work(at("2026-12-07T23:58:00"), 500.0, event_id="d"), rules)
    assert state["today"] == {"start": at("2026-12-08T00:00"), "queue": "billing", "calls_handled": 1,
                              "handle_seconds": 60.0}  # fmt: skip
    # Support's day is Kolkata's (UTC+05:30): 00:10 there is a new day, 23:50 in Paris is not.
    state = apply_work(None, work(at("2026-12-08T00:10:00", KOLKATA), 30.0, "support", "e"), rules)
    assert state["today"]["start"] == at("2026-12-08T00:00", KOLKATA)


def test_rows_show_the_day_its_missed_offers_and_zeros_once_the_next_day_began() -> None:
    rules = policy()
    state, _ = agent_step(None, change("available", at("2026-12-07T17:00:00")), rules)
    for minute in (10, 11, 12):
        state, _ = agent_step(state, miss(at(f"2026-12-07T17:{minute}:00")), rules)
    state = apply_work(state, work(at("2026-12-07T17:20:00"), 120.0, event_id="f"), rules)
    state = apply_work(state, work(at("2026-12-07T17:30:00"), 180.0, event_id="g"), rules)
    row = agent_row("A1", state, at("2026-12-07T17:40:00"), rules, {"A1": "Alice Martin"})
    assert (row.name, row.state, row.queues, row.calls_handled_today, row.mean_handle_seconds) == (
        "Alice Martin", "available", ["billing"], 2, 150.0)  # fmt: skip
    assert (row.missed_offers_today, row.missed_in_a_row, row.flagged) == (3, 3, True)
    doc = row.document(at("2026-12-07T17:40:00"))
    assert doc["seconds_in_state"] == 40 * 60 and doc["mean_handle_seconds_today"] == 150.0
    # After Paris' midnight, with nothing new: the day's figures read zero; the agent stays shown.
    late = agent_row("A1", state, at("2026-12-08T00:01:00"), rules, {})
    assert (late.calls_handled_today, late.missed_offers_today, late.mean_handle_seconds, late.name) == (
        0, 0, None, None)  # fmt: skip
    assert late.missed_in_a_row == 3  # the run is the agent's now, not the day's


def test_occupancy_is_the_last_hours_busy_and_wrap_up_share_of_logged_in_time() -> None:
    rules = Policy()
    t0 = at("2026-12-07T08:00:00")
    state = None
    for state_name, minute in (("available", 0), ("busy", 50), ("wrap_up", 70), ("away", 75), ("offline", 90),
                               ("available", 100)):  # fmt: skip
        state, _ = agent_step(state, change(state_name, t0 + minute * 60), rules)
    # Offline time is no spell; every spell ended within the hour before the newest change.
    assert [sp[0] for sp in state["recent"]] == ["available", "busy", "wrap_up", "away"]
    state, _ = agent_step(state, change("busy", t0 + 130 * 60), rules)
    # Spells that ended an hour or more before the newest change are dropped.
    assert [sp[0] for sp in state["recent"]] == ["wrap_up", "away", "available"]
    # The hour from 80 min: away 10, offline 10 (not logged in), available 30, busy 10 (still on).
    row = agent_row("A1", state, t0 + 140 * 60, rules, {})
    assert row.occupancy_1h == pytest.approx(10 / (10 + 30 + 10))
    # Later, the agent has been busy the whole hour.
    assert agent_row("A1", state, t0 + 220 * 60, rules, {}).occupancy_1h == 1.0


def test_an_agent_flipping_state_every_second_keeps_a_bounded_state() -> None:
    from metrics.engine.rules.agents import RECENT_MAX

    rules, t0, state = Policy(), at("2026-12-07T08:00:00"), None
    for second in range(1000):
        state, _ = agent_step(state, change(("busy", "available")[second % 2], t0 + second), rules)
    assert len(state["recent"]) == RECENT_MAX and state["recent"][-1][2] == t0 + 999
    # The hour is then the newest spells: 100 busy and 100 available seconds, and the current
    # available second.
    assert agent_row("A1", state, t0 + 1000, rules, {}).occupancy_1h == pytest.approx(100 / 201)


def test_the_list_holds_agents_logged_in_or_seen_this_hour_or_working_today() -> None:
    rules = Policy()
    t0 = at("2026-12-07T08:00:00")
    on, _ = agent_step(None, change("available", t0), rules)
    off, _ = agent_step(None, change("available", t0), rules)
    off, _ = agent_step(off, change("offline", t0 + 600), rules)
    worked = apply_work(None, work(t0 + 60, 50.0, event_id="h"), rules)
    rows = agent_rows([("on", on), ("off", off), ("worked", worked)], t0 + 3000, rules, {})
    assert [r.agent for r in rows] == ["off", "on", "worked"]
    rows = agent_rows([("on", on), ("off", off), ("worked", worked)], t0 + 4300, rules, {})
    assert [r.agent for r in rows] == ["on", "worked"]  # off's last spell ended over an hour ago
    doc = orjson.loads(orjson.dumps(agents_document(rows, t0 + 4300)))
    assert doc["at"] == t0 + 4300 and [a["state"] for a in doc["agents"]] == ["available", "offline"]
    assert doc["agents"][1]["calls_handled_today"] == 1
