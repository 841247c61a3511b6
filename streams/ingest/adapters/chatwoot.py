"""Chatwoot webhooks → ticket events.

Chatwoot posts one JSON object per event, named by ``event``. A conversation is a ticket
(``chatwoot:<conversation id>``), counted in its team (or, without one, its inbox:
``chatwoot:<team name>`` / ``chatwoot:inbox-<id>`` in the queue lookups) and the channel of its
inbox (``Channel::WebWidget`` → chat, ``Channel::Email`` → email, …).

First response follows Chatwoot's own rule: the first outgoing, non-private message by a human
agent (``sender.type`` ``user``: not an agent bot, not a template or activity message), measured
from the last hand-off by a bot. A conversation a bot handles first is created ``pending``; it
becomes a ticket for cxpulse when it is handed to the team (``pending`` → ``open``), so the
clock starts there. Event ids come from Chatwoot's ids (the message id; the conversation id and
the change's time), so a re-delivered webhook is counted once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from metrics.documents import JsonObject, JsonView
from streams.ingest.adapters.common import Lookups, Platform, Unmappable, event, moment, required

# Inbox channel types → the channel names the lookups know.
CHANNELS = {
    "Channel::WebWidget": "chat",
    "Channel::Api": "web",
    "Channel::Email": "email",
    "Channel::Whatsapp": "whatsapp",
    "Channel::FacebookPage": "facebook",
    "Channel::Instagram": "instagram_dm",
    "Channel::TwitterProfile": "twitter",
    "Channel::Telegram": "chat",
    "Channel::Line": "chat",
    "Channel::Sms": "sms",
    "Channel::TwilioSms": "sms",
}


def events(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    kind = payload.get("event")
    if kind == "message_created":
        return _message(payload, lookups)
    if kind == "conversation_created":
        if payload.get("status") != "open":
            return []  # a bot has it (pending) or it waits (snoozed): the ticket starts on hand-off
        return [
            _ticket("ticket.created", "created", payload, _when(payload, "created_at", "timestamp"), lookups)
        ]
    if kind == "conversation_status_changed":
        return _status_change(payload, lookups)
    if kind in ("conversation_updated", "message_updated", "webwidget_triggered", "contact_created",
                "contact_updated", "conversation_opened", "conversation_resolved"):  # fmt: skip
        return []  # no KPI in them (the two last are deprecated doubles of status changes)
    raise Unmappable(f"not a Chatwoot webhook event: event {kind!r}")


def _message(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    message_type = payload.get("message_type")
    if payload.get("private") or message_type not in ("incoming", "outgoing"):
        return []  # a private note, or Chatwoot's own activity and template messages
    conversation = required(payload, "conversation")
    sender = payload.get("sender") or {}
    if message_type == "incoming":
        author, agent = "customer", None
    elif sender.get("type") == "user":
        author, agent = "agent", sender.get("id")
    else:
        author, agent = "bot", None  # an agent bot, or an automation
    doc = _ticket("ticket.replied", f"message:{required(payload, 'id')}", conversation,
                  _when(payload, "created_at"), lookups, payload)  # fmt: skip
    doc["author"] = author
    if agent is not None:
        doc["agent_id"] = str(agent)
    return [doc]


def _status_change(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    current = str(payload.get("status", ""))
    previous = ""
    for change in payload.get("changed_attributes") or []:
        if isinstance(change, Mapping) and isinstance(change.get("status"), Mapping):
            previous = str(change["status"].get("previous_value", ""))
    at = _when(payload, "updated_at", "timestamp")
    stamp = int(_seconds(at))
    if current == "open" and previous == "pending":  # handed off by the bot: the clock starts
        return [_ticket("ticket.created", "created", payload, at, lookups)]
    if current == "resolved" and previous != "resolved":
        return [_ticket("ticket.resolved", f"resolved:{stamp}", payload, at, lookups)]
    if previous == "resolved" and current in ("open", "pending"):
        return [_ticket("ticket.reopened", f"reopened:{stamp}", payload, at, lookups)]
    return []


def _ticket(
    type_: str,
    step: str,
    conversation: JsonView,
    at: str,
    lookups: Lookups,
    message: JsonView | None = None,
) -> JsonObject:
    conversation_id = required(conversation, "id")
    meta = conversation.get("meta") or {}
    team = (meta.get("team") or {}).get("name")
    inbox = conversation.get("inbox_id") or (message or {}).get("inbox_id")
    queue = lookups.queue("chatwoot", team) if team else lookups.queue("chatwoot", f"inbox-{inbox}")
    channel = conversation.get("channel") or ((message or {}).get("inbox") or {}).get("channel_type")
    customer = (meta.get("sender") or {}).get("id")
    return event(
        type_,
        f"chatwoot:{conversation_id}:{step}",
        at,
        ticket_id=f"chatwoot:{conversation_id}",
        queue=queue,
        channel=lookups.channel(CHANNELS.get(str(channel), channel or "chat")),
        customer_id=customer,
    )


def _when(payload: JsonView, *fields: str) -> str:
    for field in fields:
        if payload.get(field) not in (None, ""):
            return moment(payload[field])
    raise Unmappable(f"missing {' or '.join(fields)}")


def _seconds(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


PLATFORM = Platform("chatwoot", events, token_in_url=True)
