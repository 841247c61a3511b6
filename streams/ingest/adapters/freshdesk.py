"""Freshdesk automation-rule webhooks → ticket events.

Freshdesk has no webhook subscription of its own: an automation rule's *Trigger webhook* action
posts a body the administrator writes, with placeholders (``{{ticket.id}}``) filled in. So the
payload is cxpulse's template (docs/ingest.md, "Freshdesk"): one rule per kind of change, each
naming its kind in ``event`` (``created``, ``agent_replied``, ``customer_replied``,
``resolved``, ``reopened``, ``escalated``) beside the ticket's id, group, source and agent.

Freshdesk neither signs the request nor sends an event id or the time of the change: the rule
sends the gateway's bearer token in a custom ``Authorization`` header (or ``?token=`` in the
URL), the change is timed by the template's ``at`` when it gives one and otherwise by the
gateway's receipt (``received_at``, which the gateway stamps), and the event id is built from
the ticket, the kind and that time — a ticket is created once, so its creation counts once
however often it is delivered.
"""

from __future__ import annotations

from metrics.documents import JsonObject, JsonView
from streams.ingest.adapters.common import Lookups, Platform, Unmappable, event, moment, required

# Freshdesk's ticket sources, as the placeholder writes them and as the API numbers them.
SOURCES = {
    "email": "email", "1": "email", "portal": "web", "2": "web", "phone": "phone", "3": "phone",
    "forum": "web", "4": "web", "twitter": "twitter", "5": "twitter", "facebook": "facebook",
    "6": "facebook", "chat": "chat", "7": "chat", "mobihelp": "chat", "8": "chat",
    "feedback widget": "web", "9": "web", "outbound email": "email", "10": "email",
    "ecommerce": "web", "11": "web", "bot": "chat", "12": "chat", "whatsapp": "whatsapp", "13": "whatsapp",
}  # fmt: skip
AGENT_SOURCES = {"outbound email", "10"}  # tickets an agent opens: the creation is no customer's contact
KINDS = {
    "created": "ticket.created",
    "agent_replied": "ticket.replied",
    "customer_replied": "ticket.replied",
    "resolved": "ticket.resolved",
    "reopened": "ticket.reopened",
    "escalated": "ticket.escalated",
}


def events(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    kind = str(payload.get("event", ""))
    if kind not in KINDS:
        raise Unmappable(
            f"not cxpulse's Freshdesk template: event {kind!r} is none of {', '.join(KINDS)} (docs/ingest.md)"
        )
    ticket = required(payload, "ticket")
    ticket_id = str(required(ticket, "id"))
    source = str(ticket.get("source") or "").strip().lower()
    at = moment(_given(payload.get("at")) or required(payload, "received_at"))
    group = _given(ticket.get("group"))
    if kind == "escalated" and _given(payload.get("escalated_from")):
        group = _given(payload.get("escalated_from"))  # counted in the queue it was escalated from
    common = {
        "ticket_id": f"freshdesk:{ticket_id}",
        "queue": lookups.queue("freshdesk", group) if group else "unassigned",
        "channel": lookups.channel(SOURCES.get(source, source or "email")),
        "customer_id": _given(ticket.get("requester")),
    }
    type_ = KINDS[kind]
    if kind == "created":
        author = "agent" if source in AGENT_SOURCES else "customer"
        return [event(type_, f"freshdesk:{ticket_id}:created", at, author=author, **common)]
    event_id = f"freshdesk:{ticket_id}:{kind}:{at}"
    if kind == "agent_replied":
        return [event(type_, event_id, at, author="agent", agent_id=_given(ticket.get("agent")), **common)]
    if kind == "customer_replied":
        return [event(type_, event_id, at, author="customer", **common)]
    if kind == "resolved":
        return [event(type_, event_id, at, agent_id=_given(ticket.get("agent")), **common)]
    return [event(type_, event_id, at, **common)]


def _given(value: object) -> str | None:
    """A placeholder's value, or None where Freshdesk had nothing to put (an empty string, or the
    placeholder left as written)."""
    text = "" if value is None else str(value).strip()
    return None if not text or text.startswith("{{") else text


PLATFORM = Platform("freshdesk", events, token_in_url=True, stamped=True)
