"""Intercom webhook notifications → ticket events.

Intercom posts a ``notification_event`` per topic, signed with ``X-Hub-Signature`` (HMAC-SHA1
of the body with the app's client secret), the conversation under ``data.item``. A conversation
is a ticket ``intercom:<conversation id>``, counted in its team (``team_assignee_id``:
``intercom:<team id>`` in the queue lookups; ``unassigned`` without one) and the channel of its
source (``conversation`` → chat, ``email`` → email, …).

``conversation.user.created`` is ``ticket.created`` (``intercom:<conversation>:created``);
``conversation.admin.replied`` is ``ticket.replied`` by the part's author, an agent (an admin)
or a bot (``intercom:<conversation>:part:<part id>``); ``conversation.admin.closed`` and
``…opened`` are ``ticket.resolved`` and ``ticket.reopened`` (``intercom:<notification id>``).

Intercom delivers a notification again under the same id, and a reply's part keeps its id, so a
retried delivery is counted once.
"""

from __future__ import annotations

from metrics.documents import JsonObject, JsonView
from streams.ingest import signatures
from streams.ingest.adapters.common import Lookups, Platform, Signed, Unmappable, event, moment, required

SOURCES = {"conversation": "chat", "email": "email", "push": "chat", "facebook": "facebook",
           "twitter": "twitter", "whatsapp": "whatsapp", "sms": "sms", "phone_call": "phone"}  # fmt: skip


def events(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    topic = str(payload.get("topic", ""))
    if payload.get("type") != "notification_event" or not topic.startswith("conversation."):
        raise Unmappable(f"not an Intercom conversation notification: topic {topic!r}")
    item = required(payload, "data", "item")
    conversation = required(item, "id")
    team = item.get("team_assignee_id")
    source = item.get("source") or {}
    common = {
        "ticket_id": f"intercom:{conversation}",
        "queue": lookups.queue("intercom", team) if team else "unassigned",
        "channel": lookups.channel(SOURCES.get(str(source.get("type")), source.get("type") or "chat")),
        "customer_id": ((item.get("contacts") or {}).get("contacts") or [{}])[0].get("id"),
    }
    if topic == "conversation.user.created":
        at = moment(required(item, "created_at"))
        return [event("ticket.created", f"intercom:{conversation}:created", at, **common)]
    if topic == "conversation.admin.replied":
        parts = (item.get("conversation_parts") or {}).get("conversation_parts") or []
        replies = [p for p in parts if p.get("part_type") == "comment"]
        if not replies:
            return []
        part = replies[-1]
        author = part.get("author") or {}
        human = author.get("type") == "admin"
        return [event("ticket.replied", f"intercom:{conversation}:part:{required(part, 'id')}",
                      moment(required(part, "created_at")), author="agent" if human else "bot",
                      agent_id=author.get("id") if human else None, **common)]  # fmt: skip
    notification = required(payload, "id")
    at = moment(payload.get("created_at") or required(item, "updated_at"))
    if topic == "conversation.admin.closed":
        return [event("ticket.resolved", f"intercom:{notification}", at, **common)]
    if topic == "conversation.admin.opened":
        return [event("ticket.reopened", f"intercom:{notification}", at, **common)]
    return []  # assigned, snoozed, notes, ratings, ...: no KPI of the contract


PLATFORM = Platform(
    "intercom",
    events,
    signed=Signed(
        "X-Hub-Signature",
        "intercom_client_secret",
        lambda secret, d: signatures.hub_valid(
            secret, d.headers.get("X-Hub-Signature"), d.body, "CXPULSE_INTERCOM_CLIENT_SECRET"
        ),
    ),
)
