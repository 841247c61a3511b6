"""``cxpulse ingest`` end to end: real HTTP requests, the real Apache Kafka, a real worker, exact KPIs.

Every webhook is delivered twice (platforms retry), a forged signature is refused, and a
Kafka outage answers 503 until the sender's retry gets through: the worker's numbers come
out exactly as the events the platforms meant, once each.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from helpers import WorkerProcess, http_get, pick, wait_for
from kafka_server import free_port, free_ports
from test_live_kpis import assert_exact

from streams.ingest import signatures
from streams.ingest.adapters import QUEUE_LOG, WEBHOOKS
from streams.ingest.adapters.common import Lookups

TOKENS = {
    "crm": "t-crm-0123456789",
    "connect": "t-connect-0123456789",
    "genesys": "t-genesys-0123456789",
    "chatwoot": "t-chatwoot-0123456789",
    "freshdesk": "t-freshdesk-0123456789",
}
ZENDESK_SECRET = "zendesk-signing-secret-0123"
TWILIO_TOKEN = "twilio-auth-token-0123"
ZAMMAD_TOKEN = "zammad-hmac-token-0123"
INTERCOM_SECRET = "intercom-client-secret-0123"
QUEUES = {"zendesk:360011": "billing", "connect:6ab3c1": "support", "genesys:q-tech": "tech-support",
          "freshdesk:Billing": "billing"}  # fmt: skip
LOOKUPS = Lookups(queues={**QUEUES, "twilio:Sales": "sales"}, escalation_groups=frozenset({"360099"}))


def gateway(stack, name: str = "gateway", context: Any = None, **extra: str) -> WorkerProcess:
    port, web_port = free_ports(2)
    env = {
        **stack.env(web_port),
        "CXPULSE_INGEST_PORT": str(port),
        "CXPULSE_INGEST_HOST": "127.0.0.1",
        "CXPULSE_INGEST_TOKENS": json.dumps(TOKENS),
        "CXPULSE_ZENDESK_SIGNING_SECRET": ZENDESK_SECRET,
        "CXPULSE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "CXPULSE_ZAMMAD_WEBHOOK_TOKEN": ZAMMAD_TOKEN,
        "CXPULSE_INTERCOM_CLIENT_SECRET": INTERCOM_SECRET,
        "CXPULSE_INGEST_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CXPULSE_INGEST_QUEUES": json.dumps({**QUEUES, "twilio:Sales": "sales"}),
        "CXPULSE_ZENDESK_ESCALATION_GROUPS": json.dumps(["360099"]),
        **extra,
    }
    proc = WorkerProcess(
        env, stack.log_dir, name, command=("ingest",), port_variable="CXPULSE_INGEST_PORT"
    ).start()
    stack.workers.append(proc)  # stopped with the test's workers
    wait_for(lambda: _get(proc.port, "/live", context)[0] == 200, 30, what="the gateway to answer")
    return proc


def _get(port: int, path: str, context: Any = None) -> tuple[int, str]:
    try:
        return http_get(f"{'https' if context else 'http'}://127.0.0.1:{port}{path}", context)
    except OSError as exc:  # not listening yet
        return 0, str(exc)


def post(
    port: int, path: str, body: bytes, headers: dict[str, str], context: Any = None
) -> tuple[int, dict[str, Any], dict]:
    scheme = "https" if context else "http"
    request = urllib.request.Request(
        f"{scheme}://127.0.0.1:{port}{path}", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def zendesk(
    kind: str, eid: str, at: float, ticket: str, group: str = "360011", event: dict | None = None
) -> dict:
    detail = {
        "id": ticket,
        "group_id": group,
        "requester_id": f"cust-{ticket}",
        "assignee_id": "agent-7",
        "via": {"channel": "email"},
        "tags": [],
        "status": "OPEN",
    }
    return {
        "type": f"zen:event-type:ticket.{kind}",
        "id": eid,
        "time": rfc3339(at),
        "detail": detail,
        "event": event or {},
        "account_id": 1,
        "subject": f"zen:ticket:{ticket}",
    }


def twilio(kind: str, task: str, at: float, **more: str) -> dict[str, str]:
    return {
        "EventType": kind,
        "TaskSid": task,
        "Timestamp": str(int(at)),
        "TaskQueueName": "Sales",
        "TaskChannelUniqueName": "voice",
        "Sid": f"EV{kind}{task}",
        **more,
    }


def connect(kind: str, contact: str, at: float, agent: bool) -> dict:
    detail: dict[str, Any] = {
        "eventType": kind,
        "contactId": contact,
        "channel": "VOICE",
        "queueInfo": {
            "queueArn": "arn:aws:connect:eu-west-1:1:instance/i/queue/6ab3c1",
            "enqueueTimestamp": rfc3339(at),
        },
    }
    if agent:
        detail["agentInfo"] = {
            "agentArn": "arn:aws:connect:eu-west-1:1:instance/i/agent/a1",
            "connectedToAgentTimestamp": rfc3339(at),
        }
    return {
        "detail-type": "Amazon Connect Contact Event",
        "id": f"evb-{kind}-{contact}",
        "time": rfc3339(at),
        "detail": detail,
    }


def chatwoot(event: str, at: float, **more: Any) -> dict:
    """A Chatwoot webhook about conversation 7 of the "billing" team, on the web widget."""
    conversation = {
        "id": 7,
        "inbox_id": 2,
        "status": "open",
        "channel": "Channel::WebWidget",
        "created_at": int(at),
        "timestamp": int(at),
        "meta": {"sender": {"id": 501, "type": "contact"}, "team": {"id": 1, "name": "billing"}},
    }
    if event.startswith("message"):
        return {"event": event, "created_at": rfc3339(at), "conversation": conversation, **more}
    return {"event": event, **conversation, "updated_at": int(at), **more}


def zammad(at: float, article: dict | None = None, **ticket: Any) -> dict:
    """A Zammad trigger delivery about ticket 81 of the "Service Desk" group, opened by email."""
    doc: dict[str, Any] = {
        "ticket": {
            "id": 81,
            "group": {"id": 3, "name": "Service Desk"},
            "priority": {"id": 2, "name": "2 normal"},
            "state": "open",
            "customer_id": 8,
            "article_ids": [104],
            "create_article_sender": "Customer",
            "create_article_type": "email",
            "created_at": rfc3339(at),
            "updated_at": rfc3339(at),
            **ticket,
        }
    }
    if article is not None:
        doc["article"] = article
    return doc


def intercom(topic: str, notification: str, at: float, **item: Any) -> dict:
    """An Intercom notification about conversation 215 of team 77, from the messenger."""
    conversation = {"type": "conversation", "id": "215", "created_at": int(at), "updated_at": int(at),
                    "team_assignee_id": "77", "source": {"type": "conversation"},
                    "contacts": {"contacts": [{"type": "contact", "id": "c-9"}]}, **item}  # fmt: skip
    return {"type": "notification_event", "id": notification, "topic": topic, "created_at": int(at),
            "data": {"item": conversation}}  # fmt: skip


REPLIED = "conversation.admin.replied"


def part(part_id: str, at: float, author: str, author_id: str) -> dict:
    comment = {
        "id": part_id,
        "part_type": "comment",
        "created_at": int(at),
        "author": {"type": author, "id": author_id},
    }
    return {"conversation_parts": {"conversation_parts": [comment]}}


def status(previous: str, current: str) -> dict:
    return {
        "status": current,
        "changed_attributes": [{"status": {"previous_value": previous, "current_value": current}}],
    }


def genesys(step: str, conversation: str, at: float, **body: str) -> dict:
    return {
        "topicName": f"v2.detail.events.conversation.{conversation}.{step}",
        "eventBody": {
            "conversationId": conversation,
            "eventTime": int(at * 1000),
            "queueId": "q-tech",
            "mediaType": "VOICE",
            **body,
        },
    }


def freshdesk(kind: str, at: float | None, **ticket: str) -> dict:
    """cxpulse's Freshdesk template as an automation rule renders it, for ticket 4821 of Billing."""
    rendered = {"id": "4821", "group": "Billing", "source": "Email", **ticket}
    doc: dict[str, Any] = {"event": kind, "ticket": rendered}
    if at is not None:
        doc["at"] = rfc3339(at)
    return doc


def deliveries(now: float) -> list[tuple[str, Any]]:
    """What the platforms send for a small morning: (route, payload), in the order they send it."""
    t = now - 1800
    return [
        ("zendesk", zendesk("created", "z1", t, "Z-1")),
        (
            "zendesk",
            zendesk(
                "comment_added",
                "z2",
                t + 60,
                "Z-1",
                event={"comment": {"is_public": False, "author": {"id": "agent-7", "is_staff": True}}},
            ),
        ),  # internal note: ignored
        (
            "zendesk",
            zendesk(
                "comment_added",
                "z3",
                t + 300,
                "Z-1",
                event={"comment": {"is_public": True, "author": {"id": "agent-7", "is_staff": True}}},
            ),
        ),
        (
            "zendesk",
            zendesk(
                "group_assignment_changed",
                "z4",
                t + 400,
                "Z-1",
                group="360099",
                event={"current": {"id": "360099"}, "previous": {"id": "360011"}},
            ),
        ),
        (
            "zendesk",
            zendesk("status_changed", "z5", t + 900, "Z-1", event={"current": "SOLVED", "previous": "OPEN"}),
        ),
        ("zendesk", zendesk("created", "z6", t + 100, "Z-2")),
        ("twilio-taskrouter", twilio("task.created", "WT1", t)),
        ("twilio-taskrouter", twilio("task-queue.entered", "WT1", t)),
        ("twilio-taskrouter", twilio("reservation.accepted", "WT1", t + 12, WorkerSid="WK1")),
        ("twilio-taskrouter", twilio("task.completed", "WT1", t + 300, WorkerSid="WK1")),
        ("twilio-taskrouter", twilio("task-queue.entered", "WT2", t + 30)),
        ("twilio-taskrouter", twilio("task.canceled", "WT2", t + 90)),
        ("amazon-connect", connect("QUEUED", "c-1", t + 10, agent=False)),
        ("amazon-connect", connect("CONNECTED_TO_AGENT", "c-1", t + 40, agent=True)),
        ("amazon-connect", connect("DISCONNECTED", "c-1", t + 400, agent=True)),
        ("amazon-connect", connect("COMPLETED", "c-1", t + 460, agent=True)),
        ("amazon-connect", connect("QUEUED", "c-2", t + 20, agent=False)),
        ("amazon-connect", connect("DISCONNECTED", "c-2", t + 80, agent=False)),
        ("genesys", genesys("acd.start", "g-1", t + 5)),
        ("genesys", genesys("acd.end", "g-1", t + 25, acdOutcome="ANSWERED")),
        ("genesys", genesys("acw", "g-1", t + 600, userId="u-1")),
        ("genesys", genesys("acd.start", "g-2", t + 15)),
        ("genesys", genesys("acd.end", "g-2", t + 200, acdOutcome="ABANDON")),
        # Chatwoot: a bot takes the conversation, hands it to the team at t+100; the first human
        # reply at t+160 is the first response (60 s); a private note and the bot do not count.
        ("chatwoot", chatwoot("conversation_created", t + 30, status="pending")),
        ("chatwoot", chatwoot("message_created", t + 40, id=1, message_type="outgoing", private=False,
                              sender={"id": 9, "type": "agent_bot"})),
        ("chatwoot", chatwoot("conversation_status_changed", t + 100, **status("pending", "open"))),
        ("chatwoot", chatwoot("message_created", t + 160, id=2, message_type="outgoing", private=False,
                              sender={"id": 31, "type": "user"})),
        ("chatwoot", chatwoot("message_created", t + 170, id=3, message_type="outgoing", private=True,
                              sender={"id": 31, "type": "user"})),
        ("chatwoot", chatwoot("conversation_status_changed", t + 500, **status("open", "resolved"))),
        # Zammad: created at t+50 by a customer's email; an internal note; the agent's first public
        # article at t+290 (first response 240 s); closed at t+700.
        ("zammad", zammad(t + 50, {"id": 104, "sender": "Customer", "created_at": rfc3339(t + 50)})),
        ("zammad", zammad(t + 50, {"id": 105, "sender": "Agent", "internal": True, "created_by_id": 5,
                                   "created_at": rfc3339(t + 200)}, article_ids=[104, 105])),
        ("zammad", zammad(t + 50, {"id": 106, "sender": "Agent", "internal": False, "created_by_id": 5,
                                   "created_at": rfc3339(t + 290)}, article_ids=[104, 105, 106])),
        ("zammad", zammad(t + 50, state="closed", close_at=rfc3339(t + 700), updated_at=rfc3339(t + 700))),
        # Intercom: Fin answers first (a bot), an agent at t+75 (first response 60 s), closed.
        ("intercom", intercom("conversation.user.created", "n-1", t + 15)),
        ("intercom", intercom(REPLIED, "n-2", t + 20, **part("p-1", t + 20, "bot", "fin"))),
        ("intercom", intercom(REPLIED, "n-3", t + 75, **part("p-2", t + 75, "admin", "a-4"))),
        ("intercom", intercom("conversation.admin.closed", "n-4", t + 400)),
        # Freshdesk: created, the agent's reply 130 s later (a customer's reply first), resolved.
        ("freshdesk", freshdesk("created", t + 45)),
        ("freshdesk", freshdesk("customer_replied", t + 90)),
        ("freshdesk", freshdesk("agent_replied", t + 175, agent="a-12")),
        ("freshdesk", freshdesk("resolved", t + 800, agent="a-12")),
    ]  # fmt: skip


def contract_events(now: float) -> list[dict]:
    t = now - 1200
    base = {"queue": "returns", "channel": "chat"}
    return [
        {"type": "ticket.created", "event_id": "r1", "occurred_at": rfc3339(t), "ticket_id": "R-1", **base},
        {
            "type": "ticket.replied",
            "event_id": "r2",
            "occurred_at": rfc3339(t + 45),
            "ticket_id": "R-1",
            "author": "agent",
            "agent_id": "a-9",
            **base,
        },
        {
            "type": "ticket.created",
            "event_id": "r3",
            "occurred_at": rfc3339(t + 60),
            "ticket_id": "R-2",
            **base,
        },
    ]


def send(port: int, route: str, payload: Any, now: float) -> tuple[int, dict, dict]:
    if route == "zendesk":
        body = json.dumps(payload).encode()
        stamp = rfc3339(now)
        signature = signatures.zendesk_signature(ZENDESK_SECRET, stamp, body)
        headers = {
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Signature": signature,
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        }
    elif route == "twilio-taskrouter":
        body = urllib.parse.urlencode(payload).encode()
        url = f"http://127.0.0.1:{port}/v1/webhooks/twilio-taskrouter"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signatures.twilio_signature(TWILIO_TOKEN, url, payload.items()),
        }
    elif route in ("zammad", "intercom"):
        body = json.dumps(payload).encode()
        secret = ZAMMAD_TOKEN if route == "zammad" else INTERCOM_SECRET
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature": signatures.hub_signature(secret, body),
        }
        return post(port, f"/v1/webhooks/{route}", body, headers)
    elif route == "freshdesk":  # the rule's custom header carries the token
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKENS['freshdesk']}"}
    elif route == "chatwoot":  # a bare URL: the token rides in it
        body = json.dumps(payload).encode()
        path = f"/v1/webhooks/chatwoot?token={TOKENS['chatwoot']}"
        return post(port, path, body, {"Content-Type": "application/json"})
    else:
        body = json.dumps(payload).encode()
        token = TOKENS["connect" if route == "amazon-connect" else "genesys"]
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return post(port, f"/v1/webhooks/{route}", body, headers)


def meant(now: float) -> list[dict]:
    """The contract events the deliveries stand for, each once (the mapping itself is tested per vendor)."""
    events = [e for route, payload in deliveries(now) for e in WEBHOOKS[route](payload, LOOKUPS)]
    unique = {e["event_id"]: e for e in events}
    return [*unique.values(), *contract_events(now)]


def test_webhooks_and_contract_events_delivered_twice_give_exact_kpis(stack, kafka):
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    gate = gateway(stack)
    now = time.time()
    for route, payload in deliveries(now):
        for _ in range(2):  # every platform retries; the second delivery must change nothing
            status, answer, _ = send(gate.port, route, payload, now)
            assert status == 202, (route, answer)
    ndjson = b"".join(json.dumps(e).encode() + b"\n" for e in contract_events(now))
    crm = {"Authorization": f"Bearer {TOKENS['crm']}", "Content-Type": "application/x-ndjson"}
    assert post(gate.port, "/v1/events", ndjson, crm)[:2] == (202, {"accepted": 3, "ignored": 0})

    # Refused, with a JSON reason, and nothing produced.
    forged = zendesk("created", "z-forged", now - 60, "Z-FORGED")
    body = json.dumps(forged).encode()
    bad = {"X-Zendesk-Webhook-Signature": "AAAA", "X-Zendesk-Webhook-Signature-Timestamp": rfc3339(now)}
    status, answer, _ = post(gate.port, "/v1/webhooks/zendesk", body, bad)
    assert (status, answer["error"]) == (401, "bad_signature")
    assert post(gate.port, "/v1/events", ndjson, {"Authorization": "Bearer wrong"})[0] == 401
    status, answer, _ = post(gate.port, "/v1/events", b'{"type": "ticket.created"}', crm)
    assert (status, answer["error"]) == (422, "invalid_value") or (status == 422 and answer["events"]), answer
    assert post(gate.port, "/v1/events", b"{not json", crm)[0] == 400

    assert_exact(worker, meant(now), timeout=90)
    metrics = gate.metrics()
    assert pick(metrics, "cxpulse_ingest_rejected_total", source="zendesk", reason="bad_signature") == 1
    assert pick(metrics, "cxpulse_ingest_rejected_total", source="events", reason="unauthorized") == 1
    assert pick(metrics, "cxpulse_ingest_ignored_total", source="zendesk") == 2  # the note, twice
    assert pick(metrics, "cxpulse_ingest_requests_total", source="genesys", code="202") == 10
    duplicates = sum(
        v for (name, _), v in worker.metrics().items() if name == "cxpulse_events_duplicate_total"
    )
    produced = sum(v for (name, _), v in metrics.items() if name == "cxpulse_ingest_events_total")
    assert duplicates == produced - len(meant(now))  # repeats, and twilio's two queued events of one task


def test_kafka_outage_answers_503_and_the_senders_retry_gives_exact_numbers(own_stack, own_kafka):
    stack, kafka = own_stack, own_kafka
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    gate = gateway(stack, CXPULSE_INGEST_KAFKA_TIMEOUT_SECONDS="3")
    now = time.time()
    routes = deliveries(now)
    half = len(routes) // 2
    for route, payload in routes[:half]:
        assert send(gate.port, route, payload, now)[0] == 202
    kafka.stop()
    try:
        status, answer, headers = send(gate.port, *routes[half], now)
        assert (status, answer["error"], headers.get("Retry-After")) == (503, "kafka_unavailable", "5")
        assert _get(gate.port, "/ready")[0] == 503
    finally:
        kafka.start()
    for route, payload in routes[half:]:  # the sender retries until the gateway takes it
        wait_for(
            lambda r=route, p=payload: send(gate.port, r, p, now)[0] == 202, 90, what=f"{route} accepted"
        )
    assert_exact(worker, [e for r, p in routes for e in WEBHOOKS[r](p, LOOKUPS)], timeout=120)


def test_queue_log_follower_survives_rotation_and_restarts_without_skipping_or_repeating(
    stack, kafka, tmp_path
):
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    log = tmp_path / "queue_log"
    start = int(time.time()) - 900
    calls = []
    for i in range(30):
        at, call = start + 10 * i, f"{start}.{i}"
        calls.append(
            [
                f"{at}|{call}|support|NONE|ENTERQUEUE||+1555{i:04d}|1",
                f"{at + 8}|{call}|support|PJSIP/20{i % 3}|CONNECT|8|{call}9|2"
                if i % 4
                else f"{at + 30}|{call}|support|NONE|ABANDON|1|1|30",
                f"{at + 200}|{call}|support|PJSIP/20{i % 3}|COMPLETEAGENT|8|192|1" if i % 4 else "",
            ]
        )
    # Asterisk writes each line as it happens: the file is in time order.
    lines = sorted(
        (line for call in calls for line in call if line), key=lambda line: int(line.split("|")[0])
    )
    env = {**stack.env(free_port())}
    command = ("ingest", "asterisk-queue-log", str(log), "--quiet")

    def follower() -> WorkerProcess:
        proc = WorkerProcess(
            {**env, "CXPULSE_WEB_PORT": str(free_port())}, tmp_path, "follower", command=command
        )
        stack.workers.append(proc)  # killed with the test's workers, whatever happens
        return proc.start()

    log.write_text("\n".join(lines[:20]) + "\n")
    first = follower()
    position = log.with_name("queue_log.cxpulse-position")
    wait_for(
        lambda: position.exists() and json.loads(position.read_text())["offset"] > 0, 60, what="a position"
    )
    # logrotate renames the file; Asterisk writes two more lines to it before it reopens the new one.
    log.rename(log.with_name("queue_log.1"))
    with open(log.with_name("queue_log.1"), "a") as old:
        old.write("\n".join(lines[20:22]) + "\n")
    log.write_text("\n".join(lines[22:40]) + "\n")
    time.sleep(3)
    first.stop(signal.SIGKILL)  # no goodbye: the position file is all that survives
    with open(log, "a") as new:
        new.write("\n".join(lines[40:]) + "\n" + lines[-1].rsplit("|", 1)[0])  # last line still being written
    second = follower()
    events = [e for line in lines for e in QUEUE_LOG(line, LOOKUPS)]
    try:
        assert_exact(worker, events, timeout=90)
    finally:
        second.stop()
    assert os.path.exists(position)


def test_simulated_traffic_sent_as_zendesk_and_twilio_gives_exact_kpis(stack, kafka):
    """What ``cxpulse simulate --via zendesk,twilio`` sends: the same numbers as the platforms meant."""
    from streams.simulator.traffic import Traffic
    from streams.simulator.vendor_traffic import TWILIO_EVENTS, GatewaySender, as_twilio, as_zendesk

    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    gate = gateway(stack)
    now = time.time()
    traffic = list(Traffic(start=now - 900, rate=1.0, seed=11).until(now))
    sender = GatewaySender(f"http://127.0.0.1:{gate.port}", TOKENS["crm"], {"zendesk", "twilio"})
    try:
        for family, key, event in traffic:
            sender(family, key.encode(), json.dumps(event).encode())
    finally:
        sender.close()
    expected, from_zendesk = [], 0
    for family, _, event in traffic:
        if family == "tickets":
            mapped = WEBHOOKS["zendesk"](as_zendesk(event), LOOKUPS)
            expected += mapped
            from_zendesk += len(mapped)
        elif family == "calls" and event["type"] in TWILIO_EVENTS:
            expected += WEBHOOKS["twilio-taskrouter"](as_twilio(event), LOOKUPS)
        else:  # holds and transfers have no TaskRouter callback: sent as contract events
            expected.append(event)
    assert {e["type"].split(".")[0] for e in expected} == {"ticket", "call", "survey", "customer", "agent"}
    assert_exact(worker, expected, timeout=90)
    assert pick(gate.metrics(), "cxpulse_ingest_events_total", source="zendesk") == from_zendesk


def test_the_gateway_reads_bodies_by_type_refuses_what_the_worker_would_and_guards_its_metrics(
    stack, kafka, tmp_path
):
    """A pretty-printed event, NDJSON without a type, a webhook event too old for the worker (422,
    not a 202 and a dead letter), a lower-case bearer scheme, and /metrics behind the web config."""
    import base64
    import ssl

    import bcrypt
    import yaml
    from tls import make_server_tls

    tls = make_server_tls(tmp_path / "tls")
    config = tmp_path / "web-config.yml"
    users = {"prometheus": bcrypt.hashpw(b"scrape", bcrypt.gensalt(rounds=4)).decode()}
    config.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(tls.cert_file), "key_file": str(tls.key_file)},
        "basic_auth_users": users,
    }))  # fmt: skip
    trusted = ssl.create_default_context(cafile=str(tls.ca_file))
    gate = gateway(stack, context=trusted, CXPULSE_WEB_CONFIG_FILE=str(config))
    now = time.time()
    one, two, three = contract_events(now)
    crm = {"Authorization": f"bearer {TOKENS['crm']}"}

    pretty = json.dumps(one, indent=2).encode()
    typed = {**crm, "Content-Type": "application/json"}
    assert post(gate.port, "/v1/events", pretty, typed, trusted)[:2] == (202, {"accepted": 1, "ignored": 0})
    ndjson = b"".join(json.dumps(e).encode() + b"\n" for e in (two, three))
    assert post(gate.port, "/v1/events", ndjson, crm, trusted)[:2] == (202, {"accepted": 2, "ignored": 0})

    old = now - 400 * 86400
    body = json.dumps(zendesk("created", "z-old", old, "Z-OLD")).encode()
    stamp = rfc3339(now)
    signed = {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": signatures.zendesk_signature(ZENDESK_SECRET, stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    status, answer, _ = post(gate.port, "/v1/webhooks/zendesk", body, signed, trusted)
    assert (status, answer["error"]) == (422, "timestamp_too_old"), answer

    # A Freshdesk rule whose template gives no time: the gateway's receipt times it.
    untimed = json.dumps(freshdesk("created", None, id="4900")).encode()
    path = f"/v1/webhooks/freshdesk?token={TOKENS['freshdesk']}"
    assert post(gate.port, path, untimed, {"Content-Type": "application/json"}, trusted)[:2] == (
        202, {"accepted": 1, "ignored": 0})  # fmt: skip

    assert _get(gate.port, "/metrics", trusted)[0] == 401
    assert _get(gate.port, "/live", trusted) == (200, "live\n")
    scrape = "Basic " + base64.b64encode(b"prometheus:scrape").decode()
    status, text = http_get(f"https://127.0.0.1:{gate.port}/metrics", trusted, scrape)
    assert status == 200
    assert 'cxpulse_ingest_events_total{source="events"} 3.0' in text
    assert 'cxpulse_ingest_events_total{source="freshdesk"} 1.0' in text
    assert 'cxpulse_ingest_rejected_total{reason="timestamp_too_old",source="zendesk"} 1.0' in text


def test_a_broker_without_idempotent_producers_is_named_with_the_setting_that_helps(stack, tmp_path):
    """Tansu (the demo's broker) refuses InitProducerId: say so, rather than "Kafka unreachable"."""
    from streams.cli.embedded_broker import TansuBroker

    broker = TansuBroker(log_path=tmp_path / "tansu.log").start()
    try:
        event = json.dumps(contract_events(time.time())[0]).encode()
        crm = {"Authorization": f"Bearer {TOKENS['crm']}", "Content-Type": "application/json"}
        strict = gateway(stack, "strict", CXPULSE_BROKER=broker.url, CXPULSE_INGEST_KAFKA_TIMEOUT_SECONDS="5")
        status, answer, _ = post(strict.port, "/v1/events", event, crm)
        assert (status, answer["error"]) == (503, "kafka_unavailable"), answer
        assert "refused InitProducerId" in answer["detail"], answer
        assert "CXPULSE_INGEST_IDEMPOTENT=false" in answer["detail"], answer
        status, text = _get(strict.port, "/ready")
        assert status == 503 and "CXPULSE_INGEST_IDEMPOTENT=false" in text, text
        lenient = gateway(stack, "lenient", CXPULSE_BROKER=broker.url, CXPULSE_INGEST_IDEMPOTENT="false")
        assert post(lenient.port, "/v1/events", event, crm)[:2] == (202, {"accepted": 1, "ignored": 0})
        assert _get(lenient.port, "/ready") == (200, "ready\n")
    finally:
        broker.stop()


class EventSocket:
    """FreeSWITCH's event socket as mod_event_socket speaks it (a TCP text protocol): asks for
    the password, takes the subscription, then sends each connection's events and hangs up."""

    def __init__(self, password: str, sessions: list[list[dict]]) -> None:
        self.password = password
        self.sessions = list(sessions)  # one list of events per connection, in order
        self.logins: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.sessions:
            conn, _ = self.server.accept()
            with conn:
                reader = conn.makefile("rb")
                conn.sendall(b"Content-Type: auth/request\n\n")
                login = self._command(reader)
                self.logins.append(login)
                if login != f"auth {self.password}":
                    conn.sendall(b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n")
                    continue
                conn.sendall(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
                assert self._command(reader) == "event json CUSTOM callcenter::info"
                conn.sendall(b"Content-Type: command/reply\nReply-Text: +OK event listener enabled json\n\n")
                for doc in self.sessions.pop(0):
                    body = json.dumps(doc).encode()
                    conn.sendall(b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body)
                    time.sleep(0.05)
                time.sleep(0.5)
                conn.sendall(b"Content-Type: text/disconnect-notice\nContent-Length: 0\n\n")

    @staticmethod
    def _command(reader: Any) -> str:
        lines = []
        while (line := reader.readline().rstrip(b"\r\n")) or not lines:
            if line:
                lines.append(line.decode())
        return lines[0]


def callcenter(action: str, at: float, **headers: str) -> dict:
    return {
        "Event-Name": "CUSTOM",
        "Event-Subclass": "callcenter::info",
        "CC-Action": action,
        "CC-Queue": "support@default",
        "Event-Date-Timestamp": str(int(at * 1_000_000)),
        **headers,
    }


def test_freeswitch_event_socket_follower_reconnects_and_gives_exact_kpis(stack, kafka, tmp_path):
    worker = stack.worker()
    worker.wait_assigned(stack.partitions)
    t = time.time() - 600
    first = [
        callcenter(
            "member-queue-start", t, **{"CC-Member-UUID": "m-1", "CC-Member-Joined-Time": str(int(t))}
        ),
        callcenter(
            "bridge-agent-start",
            t + 9,
            **{
                "CC-Member-UUID": "m-1",
                "CC-Agent": "1001@default",
                "CC-Agent-Answered-Time": str(int(t + 9)),
            },
        ),
        callcenter(
            "member-queue-start",
            t + 20,
            **{"CC-Member-UUID": "m-2", "CC-Member-Joined-Time": str(int(t + 20))},
        ),
        callcenter(
            "member-queue-end",
            t + 80,
            **{
                "CC-Member-UUID": "m-2",
                "CC-Cause": "Cancel",
                "CC-Cancel-Reason": "BREAK_OUT",
                "CC-Member-Leaving-Time": str(int(t + 80)),
            },
        ),
    ]
    second = [  # after FreeSWITCH closed the socket: the follower comes back for these
        callcenter(
            "bridge-agent-end",
            t + 300,
            **{
                "CC-Member-UUID": "m-1",
                "CC-Agent": "1001@default",
                "CC-Bridge-Terminated-Time": str(int(t + 300)),
            },
        ),
        callcenter(
            "member-queue-start",
            t + 310,
            **{"CC-Member-UUID": "m-3", "CC-Member-Joined-Time": str(int(t + 310))},
        ),
        callcenter(
            "member-queue-end",
            t + 400,
            **{
                "CC-Member-UUID": "m-3",
                "CC-Cause": "Cancel",
                "CC-Cancel-Reason": "TIMEOUT",
                "CC-Member-Leaving-Time": str(int(t + 400)),
            },
        ),
    ]
    socket_server = EventSocket("ClueCon-test", [first, second])
    env = {**stack.env(free_port()), "CXPULSE_FREESWITCH_PASSWORD": "ClueCon-test"}
    command = ("ingest", "freeswitch", f"127.0.0.1:{socket_server.port}", "--quiet")
    follower = WorkerProcess(env, tmp_path, "freeswitch", command=command)
    stack.workers.append(follower)
    follower.start()
    events = [e for doc in first + second for e in WEBHOOKS["freeswitch"](doc, LOOKUPS)]
    assert [e["type"] for e in events][-1] == "call.ended"  # TIMEOUT: an exit, not an abandon
    try:
        assert_exact(worker, events, timeout=90)
    finally:
        # The test socket now accepts and never greets: SIGTERM must still end the follower.
        follower.stop(timeout=10)
    assert follower.process.returncode == 0, follower.log_tail()
    assert socket_server.logins == ["auth ClueCon-test", "auth ClueCon-test"]  # one reconnection
