"""The shipped JSON Schemas match the event models, and the simulator speaks the contract."""

from __future__ import annotations

import json

import jsonschema
import orjson
from click.testing import CliRunner
from helpers import customer, event, survey

from metrics.contract.events import FAMILIES
from metrics.contract.validation import Rejection, validate
from streams.cli.main import SCHEMA_DIR, main
from streams.simulator.incidents import Incident
from streams.simulator.traffic import Traffic


def test_schema_files_are_up_to_date():
    result = CliRunner().invoke(main, ["schemas", "--check"])
    assert result.exit_code == 0, result.output


def test_schemas_accept_good_events_and_refuse_bad_ones():
    tickets = json.loads((SCHEMA_DIR / "tickets.schema.json").read_text())
    calls = json.loads((SCHEMA_DIR / "calls.schema.json").read_text())
    surveys = json.loads((SCHEMA_DIR / "surveys.schema.json").read_text())
    customers = json.loads((SCHEMA_DIR / "customers.schema.json").read_text())
    jsonschema.validate(event("ticket.replied", "T1", 1e9, author="agent"), tickets)
    jsonschema.validate(event("call.abandoned", "C1", 1e9), calls)
    jsonschema.validate(survey("csat", 4, ticket_id="T1"), surveys)
    jsonschema.validate(customer("customer.joined", "K1", 1e9), customers)
    bad = event("ticket.replied", "T1", 1e9, author="robot")
    try:
        jsonschema.validate(bad, tickets)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("schema accepted author=robot")


def test_simulated_traffic_is_valid_ordered_and_covers_every_type():
    # Three in four agents away for the first hour: callers wait long enough to be offered callbacks.
    short = (Incident("understaffed", 1_700_000_000, 1_700_003_600),)
    events = Traffic(start=1_700_000_000, rate=5, seed=3, callback_share=0.5, incidents=short).take(20000)
    assert len(events) == 20000
    times = []
    types = set()
    for family, key, ev in events:
        parsed = validate(orjson.dumps(ev), key.encode(), FAMILIES[family], now=1_700_000_000 + 86400)
        assert not isinstance(parsed, Rejection), parsed
        times.append(parsed.occurred_at.timestamp())
        types.add(ev["type"])
    assert times == sorted(times)
    assert types == set().union(*(f.types for f in FAMILIES.values()))


def test_simulator_is_repeatable():
    a = Traffic(start=1_700_000_000, seed=11).take(200)
    b = Traffic(start=1_700_000_000, seed=11).take(200)
    assert a == b


def test_holds_transfers_and_priorities_leave_the_contacts_as_they_were():
    """They come from a random generator and ids of their own: the rest of the traffic is the same
    event for event (so the alert backtests and benchmarks read the same contacts)."""
    service = ("call.held", "call.resumed", "call.transferred", "ticket.priority_changed")
    service += ("agent.offer_missed",)
    events = [ev for _, _, ev in Traffic(start=1_700_000_000, seed=11).take(5000)]
    others = [{k: v for k, v in ev.items() if k != "priority"} for ev in events if ev["type"] not in service]
    assert {ev["type"] for ev in events} >= set(service)
    plain = [ev for _, _, ev in Traffic(start=1_700_000_000, seed=11, holds_and_transfers=False).take(5000)]
    assert plain[: len(others)] == others
