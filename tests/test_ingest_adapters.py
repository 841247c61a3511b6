"""Each platform's payloads, as its documentation shows them, mapped to the exact contract events."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from metrics.contract.validation import Limits
from streams.ingest import signatures
from streams.ingest.adapters import QUEUE_LOG, WEBHOOKS
from streams.ingest.adapters.common import Lookups, Unmappable
from streams.ingest.contract_batch import Addressed, address, address_one, parse_body

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
LOOKUPS = Lookups(
    queues={
        "zendesk:360011": "billing",
        "twilio:Sales": "sales",
        "connect:6ab3c1": "support",
        "genesys:q-tech": "tech-support",
        "freshdesk:Billing": "billing",
    },
    escalation_groups=frozenset({"360099"}),
    agent_queues={"8f2a-user": ("q-tech",)},
)
ADAPTER_OF = {
    "zendesk": "zendesk",
    "twilio": "twilio-taskrouter",
    "connect": "amazon-connect",
    "genesys": "genesys",
    "chatwoot": "chatwoot",
    "zammad": "zammad",
    "freeswitch": "freeswitch",
    "intercom": "intercom",
    "freshdesk": "freshdesk",
}
CASES = sorted(p for p in FIXTURES.glob("*/*.json"))
NO_AGE_LIMIT = Limits(max_age_seconds=float("inf"))


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_vendor_payload_maps_to_exact_contract_events(path: Path) -> None:
    case = json.loads(path.read_text())
    events = WEBHOOKS[ADAPTER_OF[path.parent.name]](case["payload"], LOOKUPS)
    assert events == case["events"]
    # Every event produced is one the worker accepts, under its entity id as the key.
    for doc in events:
        addressed = address_one(doc, NO_AGE_LIMIT, time.time())
        assert isinstance(addressed, Addressed), addressed
        entity = doc.get("ticket_id") or doc.get("call_id")
        if doc["type"].startswith("agent."):  # an agent's events, a missed offer's too, by agent
            entity = doc["agent_id"]
        assert addressed.key.decode() == entity


# What a phone platform's adapter sends: calls, agent states and missed offers.
PHONE_KINDS = {"call.queued", "call.answered", "call.abandoned", "call.ended", "agent.state_changed",
               "agent.offer_missed"}  # fmt: skip


def test_every_adapter_has_fixtures_and_events_of_each_kind_it_produces() -> None:
    produced = {}
    for path in CASES:
        for doc in json.loads(path.read_text())["events"]:
            produced.setdefault(path.parent.name, set()).add(doc["type"])
    assert produced == {
        "zendesk": {
            "ticket.created",
            "ticket.replied",
            "ticket.resolved",
            "ticket.reopened",
            "ticket.escalated",
            "ticket.priority_changed",
        },
        "twilio": PHONE_KINDS,
        "connect": PHONE_KINDS,
        "genesys": PHONE_KINDS,
        "chatwoot": {"ticket.created", "ticket.replied", "ticket.resolved", "ticket.reopened"},
        "zammad": {
            "ticket.created",
            "ticket.replied",
            "ticket.resolved",
            "ticket.reopened",
            "ticket.escalated",
        },
        "freeswitch": PHONE_KINDS,
        "intercom": {"ticket.created", "ticket.replied", "ticket.resolved", "ticket.reopened"},
        "freshdesk": {
            "ticket.created",
            "ticket.replied",
            "ticket.resolved",
            "ticket.reopened",
            "ticket.escalated",
        },
    }


def test_asterisk_queue_log_lines_map_to_call_events() -> None:
    lines = (FIXTURES / "asterisk" / "queue_log").read_text().splitlines()
    events = [doc for line in lines for doc in QUEUE_LOG(line, LOOKUPS)]
    calls = [e for e in events if e["type"].startswith("call.")]
    assert [(e["call_id"], e["type"]) for e in calls] == [
        ("1796029200.101", "call.queued"),
        ("1796029200.101", "call.answered"),
        ("1796029200.101", "call.ended"),
        ("1796029260.103", "call.queued"), ("1796029260.103", "call.abandoned"),
        ("1796029310.104", "call.queued"), ("1796029310.104", "call.ended"),  # EXITWITHKEY: an exit
        ("1796029320.105", "call.queued"), ("1796029320.105", "call.ended"),  # EXITWITHTIMEOUT
        ("1796029330.106", "call.queued"),
        ("1796029330.106", "call.answered"),
        ("1796029330.106", "call.ended"),
        # A transfer ends the queue call for its agent: transferred, then ended.
        ("1796029710.108", "call.queued"), ("1796029710.108", "call.answered"),
        ("1796029710.108", "call.transferred"), ("1796029710.108", "call.ended"),
        ("1796029750.110", "call.queued"), ("1796029750.110", "call.answered"),
        ("1796029750.110", "call.transferred"), ("1796029750.110", "call.ended"),
    ]  # fmt: skip
    moved = [e for e in calls if e["type"] == "call.transferred"]
    assert [(e["transfer"], e["event_id"], e["agent_id"]) for e in moved] == [
        ("blind", "asterisk:1796029710.108:BLINDTRANSFER:1796029790", "PJSIP/2002"),
        ("consult", "asterisk:1796029750.110:ATTENDEDTRANSFER:1796029795", "PJSIP/2001"),
    ]
    ended = [e["event_id"] for e in calls if e["type"] == "call.ended"][-1]
    assert ended == "asterisk:1796029750.110:ATTENDEDTRANSFER:1796029795:ended"
    # A ring that ran out is a missed offer of that member; one of 0 ms is the device, not the agent.
    (miss,) = [e for e in events if e["type"] == "agent.offer_missed"]
    assert miss == {
        "type": "agent.offer_missed",
        "event_id": "asterisk:1796029710.108:RINGNOANSWER:PJSIP/2003@sales:1796029718",
        "occurred_at": "2026-11-30T09:08:38Z",
        "agent_id": "PJSIP/2003@sales",
        "queue": "sales",
        "channel": "phone",
        "call_id": "1796029710.108",
        "reason": "timeout",
    }
    # Queue members: one agent per member and queue, from ADDMEMBER, CONNECT, COMPLETE*, PAUSE.
    members = [(e["agent_id"], e["state"], e["queues"]) for e in events if e["type"] == "agent.state_changed"]
    assert members == [
        ("PJSIP/2001@support", "available", ["support"]),
        ("PJSIP/2001@support", "busy", ["support"]),
        ("PJSIP/2001@support", "available", ["support"]),
        ("PJSIP/2002@sales", "busy", ["sales"]),
        ("PJSIP/2002@sales", "available", ["sales"]),
        ("PJSIP/2002@sales", "busy", ["sales"]),
        ("PJSIP/2002@sales", "available", ["sales"]),  # its caller sent on
        ("PJSIP/2001@support", "busy", ["support"]),
        ("PJSIP/2001@support", "available", ["support"]),
        ("PJSIP/2001@support", "away", ["support"]),
    ]
    assert events[-1]["event_id"] == "asterisk:PJSIP/2001@support:PAUSE:1796029800"
    events = calls
    first = {"call_id": "1796029200.101", "queue": "support", "channel": "phone"}
    assert events[0] == {"type": "call.queued", "event_id": "asterisk:1796029200.101:ENTERQUEUE:1796029200",
                         "occurred_at": "2026-11-30T09:00:00Z", **first}  # fmt: skip
    assert events[1]["agent_id"] == "PJSIP/2001"
    with pytest.raises(Unmappable):
        QUEUE_LOG("garbage without fields", LOOKUPS)


def test_each_kind_of_exit_counts_as_the_site_says() -> None:
    """By default a caller who leaves the queue without hanging up is offered, neither answered
    nor abandoned (the call ends unanswered); a site may count a kind of exit as an abandon."""
    key = "1796029400|1796029310.104|support|NONE|EXITWITHKEY|5|1"
    timeout = "1796029620|1796029320.105|sales|NONE|EXITWITHTIMEOUT|1|1|300"
    empty = "1796029620|1796029320.107|sales|NONE|EXITEMPTY|1|1|300"
    assert [QUEUE_LOG(line, LOOKUPS)[0]["type"] for line in (key, timeout, empty)] == ["call.ended"] * 3
    strict = replace(LOOKUPS, exits={"key_press": "abandon"})
    assert [QUEUE_LOG(line, strict)[0]["type"] for line in (key, timeout, empty)] == [
        "call.abandoned",
        "call.ended",
        "call.ended",
    ]
    assert QUEUE_LOG(key, strict)[0]["event_id"] == "asterisk:1796029310.104:EXITWITHKEY:1796029400"
    timed_out = {
        "EventType": "workflow.timeout",
        "TaskSid": "WT9",
        "TaskQueueName": "Sales",
        "Timestamp": "1796029600",
    }
    assert [e["type"] for e in WEBHOOKS["twilio-taskrouter"](timed_out, LOOKUPS)] == ["call.ended"]
    assert [
        e["type"]
        for e in WEBHOOKS["twilio-taskrouter"](timed_out, replace(LOOKUPS, exits={"timeout": "abandon"}))
    ] == ["call.abandoned"]
    flow_out = json.loads((FIXTURES / "genesys" / "acd_end_flow_out.json").read_text())["payload"]
    counted = replace(LOOKUPS, exits={"flow_out": "abandon"})
    assert [e["type"] for e in WEBHOOKS["genesys"](flow_out, counted)] == ["call.abandoned"]


def test_freeswitch_agents_take_their_queues_from_the_lookups_when_the_event_names_none() -> None:
    status = {"Event-Subclass": "callcenter::info", "CC-Action": "agent-status-change",
              "CC-Agent": "1002@default", "CC-Agent-Status": "Available",
              "Event-Date-Timestamp": "1796029900000000"}  # fmt: skip
    assert WEBHOOKS["freeswitch"](status, LOOKUPS)[0]["queues"] == []  # counted in no queue
    served = replace(LOOKUPS, agent_queues={"1002@default": ("support", "sales")})
    [doc] = WEBHOOKS["freeswitch"](status, served)
    assert (doc["state"], doc["queues"], doc["occurred_at"]) == (
        "available",
        ["support", "sales"],
        "2026-11-30T09:11:40Z",
    )
    timeout = json.loads((FIXTURES / "freeswitch" / "member_queue_end_timeout.json").read_text())["payload"]
    counted = replace(LOOKUPS, exits={"timeout": "abandon"})
    assert [e["type"] for e in WEBHOOKS["freeswitch"](timeout, counted)] == ["call.abandoned"]


def test_a_genesys_user_not_responding_missed_an_offer_only_where_one_queue_says_whose() -> None:
    payload = json.loads((FIXTURES / "genesys" / "user_not_responding.json").read_text())["payload"]
    assert [e["type"] for e in WEBHOOKS["genesys"](payload, LOOKUPS)] == [
        "agent.offer_missed",
        "agent.state_changed",
    ]
    two = replace(LOOKUPS, agent_queues={"8f2a-user": ("q-tech", "q-sales")})
    assert [e["type"] for e in WEBHOOKS["genesys"](payload, two)] == ["agent.state_changed"]


def test_an_unknown_exit_kind_is_refused_with_the_kinds() -> None:
    from streams.settings import Settings

    with pytest.raises(ValueError, match=r"unknown exit kinds.*key_press"):
        Settings(exit_outcomes={"hung_up_politely": "abandon"})
    with pytest.raises(ValueError):
        Settings(exit_outcomes={"key_press": "maybe"})


def test_payloads_that_are_not_the_platforms_are_unmappable() -> None:
    for adapter in WEBHOOKS.values():
        with pytest.raises(Unmappable):
            adapter({"hello": "world"}, LOOKUPS)
    zendesk = json.loads((FIXTURES / "zendesk" / "ticket_created.json").read_text())["payload"]
    del zendesk["time"]
    with pytest.raises(Unmappable, match="missing time"):
        WEBHOOKS["zendesk"](zendesk, LOOKUPS)


def test_contract_bodies_json_array_and_ndjson() -> None:
    one = {"type": "ticket.created", "event_id": "e1", "occurred_at": "2026-11-30T09:00:00Z",
           "ticket_id": "T1", "queue": "billing", "channel": "email"}  # fmt: skip
    two = {**one, "event_id": "e2", "ticket_id": "T2"}
    assert parse_body(json.dumps(one).encode(), "application/json") == [one]
    assert parse_body(json.dumps([one, two]).encode(), "application/json") == [one, two]
    ndjson = (json.dumps(one) + "\n" + json.dumps(two) + "\n").encode()
    assert parse_body(ndjson, "application/x-ndjson") == [one, two]
    with pytest.raises(ValueError, match="not JSON"):
        parse_body(b"{nope", "application/json")
    pretty = json.dumps(one, indent=2).encode()
    for content_type in ("application/json", "application/json; charset=utf-8", "application/octet-stream"):
        assert parse_body(pretty, content_type) == [one], content_type
    assert parse_body(json.dumps([one, two], indent=2).encode(), "") == [one, two]
    assert parse_body(ndjson, "application/octet-stream") == [one, two]  # no type: either shape
    with pytest.raises(ValueError, match="application/x-ndjson"):
        parse_body(ndjson, "application/json")
    with pytest.raises(ValueError, match="not NDJSON"):
        parse_body(pretty, "application/x-ndjson")
    ready, refused = address([one, {**two, "queue": ""}, {"type": "parcel.sent"}], NO_AGE_LIMIT, time.time())
    assert [a.key for a in ready] == [b"T1"]
    assert [(r.index, r.reason) for r in refused] == [(1, "invalid_value"), (2, "unknown_type")]


def test_zammad_and_intercom_signature() -> None:
    body = b'{"ticket": {"id": 81}}'
    signed = signatures.hub_signature("hmac-token", body)
    assert signed == "sha1=" + __import__("hmac").new(b"hmac-token", body, "sha1").hexdigest()
    setting = "CXPULSE_ZAMMAD_WEBHOOK_TOKEN"
    assert signatures.hub_valid("hmac-token", signed, body, setting) is None
    assert setting in (signatures.hub_valid("other", signed, body, setting) or "")
    assert signatures.hub_valid("hmac-token", None, body, setting) == "missing X-Hub-Signature"


def test_signatures_of_zendesk_and_twilio() -> None:
    body = b'{"type": "zen:event-type:ticket.created"}'
    now = 1_796_029_200.0
    stamp = "2026-11-30T09:00:00Z"
    good = signatures.zendesk_signature("zsecret", stamp, body)
    assert signatures.zendesk_valid("zsecret", stamp, good, body, now, 300) is None
    assert (
        signatures.zendesk_valid("zsecret", stamp, good, body + b" ", now, 300)
        == "bad X-Zendesk-Webhook-Signature"
    )
    assert "outside the 300 s window" in signatures.zendesk_valid(
        "zsecret", stamp, good, body, now + 301, 300
    )
    assert "missing" in (signatures.zendesk_valid("zsecret", None, good, body, now, 300) or "")
    params = [("EventType", "task.created"), ("TaskSid", "WT1"), ("Timestamp", "1796029200")]
    url = "https://cx.example.com/v1/webhooks/twilio-taskrouter"
    sig = signatures.twilio_signature("ttoken", url, params)
    assert signatures.twilio_valid("ttoken", url, list(reversed(params)), sig) is None
    assert "bad X-Twilio-Signature" in (signatures.twilio_valid("other", url, params, sig) or "")
    assert signatures.bearer_sender("Bearer t-crm", {"crm": "t-crm", "wfm": "t-wfm"}) == "crm"
    assert signatures.bearer_sender("Bearer nope", {"crm": "t-crm"}) is None
    assert signatures.bearer_sender(None, {"crm": "t-crm"}) is None
    for header in ("bearer t-crm", "BEARER  t-crm ", "BeArEr t-crm"):  # RFC 7235: any case
        assert signatures.bearer_sender(header, {"crm": "t-crm"}) == "crm", header
    for header in ("Bearer", "Bearer ", "Basic t-crm", "Bearert-crm", "t-crm"):
        assert signatures.bearer_sender(header, {"crm": "t-crm"}) is None, header
