"""The simulator's traffic as the platforms would send it: Zendesk webhooks, Twilio TaskRouter callbacks.

``cxpulse simulate --via zendesk,twilio`` sends ticket events as Zendesk ticket events and call
events as TaskRouter callbacks to a running ``cxpulse ingest``; every other event (and the call
events TaskRouter has no callback for: holds, transfers, callbacks) goes to ``/v1/events`` as it
is. It proves the path from a platform to a dashboard end to end (the demo uses it); the numbers
match the direct path up to TaskRouter's whole-second timestamps.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse

import orjson

from metrics.documents import JsonObject
from streams.ingest.adapters.common import instant

# Simulator channel → the Zendesk via.channel the gateway maps back to it.
_ZENDESK_CHANNELS = {"email": "email", "chat": "chat", "web": "web", "social": "twitter"}
TWILIO_EVENTS = {
    "call.queued": "task-queue.entered",
    "call.answered": "reservation.accepted",
    "call.abandoned": "task.canceled",
    "call.ended": "task.completed",
}
VIA = ("zendesk", "twilio")


def as_zendesk(event: JsonObject) -> JsonObject:
    """A contract ticket event as the Zendesk ticket event that stands for it."""
    kind, change = "created", {}
    type_ = event["type"]
    if type_ == "ticket.replied":
        author = event.get("author")
        who: JsonObject = {"id": event.get("customer_id") or "customer", "is_staff": False}
        if author == "agent":
            who = {"id": event.get("agent_id") or "agent", "is_staff": True}
        elif author == "bot":
            who = {"id": "-1", "is_staff": False}
        kind, change = "comment_added", {"comment": {"is_public": True, "author": who}}
    elif type_ == "ticket.resolved":
        kind, change = "status_changed", {"current": "SOLVED", "previous": "OPEN"}
    elif type_ == "ticket.reopened":
        kind, change = "status_changed", {"current": "OPEN", "previous": "SOLVED"}
    elif type_ == "ticket.escalated":
        kind, change = "tags_changed", {"tags_added": ["escalated"], "tags_removed": []}
    elif type_ == "ticket.priority_changed":
        kind, change = "priority_changed", {"current": event["priority"].upper(), "previous": None}
    detail = {
        "id": event["ticket_id"],
        "group_id": event["queue"],
        "via": {"channel": _ZENDESK_CHANNELS.get(event["channel"], event["channel"])},
        "requester_id": event.get("customer_id"),
        "assignee_id": event.get("agent_id"),
        "tags": event.get("tags", []),
        "priority": event["priority"].upper() if event.get("priority") else None,
    }
    return {"type": f"zen:event-type:ticket.{kind}", "id": event["event_id"], "time": event["occurred_at"],
            "detail": detail, "event": change}  # fmt: skip


def as_twilio(event: JsonObject) -> dict[str, str]:
    """A contract call event as the TaskRouter callback that stands for it."""
    at = instant(event["occurred_at"]).timestamp()
    form = {
        "EventType": TWILIO_EVENTS[event["type"]],
        "TaskSid": event["call_id"],
        "TaskQueueName": event["queue"],
        "TaskChannelUniqueName": "voice",
        "Timestamp": str(int(at)),
    }
    if event.get("agent_id"):
        form["WorkerSid"] = event["agent_id"]
    if event.get("customer_id"):
        form["TaskAttributes"] = orjson.dumps({"customer_id": event["customer_id"]}).decode()
    return form


class GatewaySender:
    """``send(family, key, value)`` for :func:`streams.simulator.traffic.run_live`, through the gateway."""

    def __init__(self, url: str, token: str, via: set[str]) -> None:
        parsed = urllib.parse.urlsplit(url)
        self._connection = http.client.HTTPConnection(
            parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=30
        )
        self._auth = {"Authorization": f"Bearer {token}"}
        self._via = via

    def __call__(self, family: str, key: bytes, value: bytes) -> None:
        event = orjson.loads(value)
        if family == "tickets" and "zendesk" in self._via:
            self._post("/v1/webhooks/zendesk", orjson.dumps(as_zendesk(event)), "application/json")
        elif family == "calls" and "twilio" in self._via and event["type"] in TWILIO_EVENTS:
            body = urllib.parse.urlencode(as_twilio(event)).encode()
            self._post("/v1/webhooks/twilio-taskrouter", body, "application/x-www-form-urlencoded")
        else:
            self._post("/v1/events", value, "application/json")

    def _post(self, path: str, body: bytes, content_type: str) -> None:
        for attempt in range(30):  # a 503 (Kafka away) is retried, as a platform would
            self._connection.request("POST", path, body, {**self._auth, "Content-Type": content_type})
            response = self._connection.getresponse()
            answer = response.read()
            if response.status < 300:
                return
            if response.status != 503:
                raise RuntimeError(f"the gateway refused {path}: {response.status} {answer[:300]!r}")
            time.sleep(min(5.0, 0.5 * (attempt + 1)))
        raise RuntimeError(f"the gateway kept answering 503 on {path}")

    def close(self) -> None:
        self._connection.close()
