"""Zendesk webhook ticket events → ticket events.

A Zendesk webhook subscribed to ticket events posts one JSON document per event: ``type``
(``zen:event-type:ticket.…``), ``id`` (the event's own id, the same on every retry), ``time``,
``detail`` (the ticket as it is now) and ``event`` (what changed). The event id becomes
``zendesk:<id>``, so a delivery retried by Zendesk is counted once by the worker. Every event
carries the ticket's priority (``detail.priority``, lower case); a ``priority_changed`` is also a
``ticket.priority_changed`` (event id ``zendesk:<id>:priority``).
"""

from __future__ import annotations

from collections.abc import Mapping

from metrics.documents import JsonObject, JsonView
from streams.ingest import signatures
from streams.ingest.adapters.common import Lookups, Platform, Signed, Unmappable, event, moment, required

PREFIX = "zen:event-type:ticket."
SOLVED = {"solved", "closed"}
# Authors Zendesk itself writes as: triggers, automations and bots.
SYSTEM_AUTHOR_IDS = {"-1", "0"}


def events(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    kind = str(payload.get("type", ""))
    if not kind.startswith(PREFIX):
        raise Unmappable(f"not a Zendesk ticket event: type {kind!r}")
    kind = kind.removeprefix(PREFIX)
    detail = required(payload, "detail")
    change = payload.get("event") or {}
    ticket_id = required(detail, "id")
    common = {
        "ticket_id": ticket_id,
        "queue": _queue(detail.get("group_id"), lookups),
        "channel": lookups.channel((detail.get("via") or {}).get("channel")),
        "customer_id": detail.get("requester_id"),
        "priority": _priority(detail.get("priority")),
    }
    event_id = f"zendesk:{required(payload, 'id')}"
    at = moment(required(payload, "time"))
    if kind == "created":
        tags = [str(t)[:100] for t in detail.get("tags") or []][:50]
        return [event("ticket.created", event_id, at, tags=tags, **common)]
    if kind == "comment_added":
        comment = change.get("comment") or {}
        if not comment.get("is_public", False):
            return []  # an internal note: the customer saw nothing
        author = comment.get("author") or {}
        return [
            event("ticket.replied", event_id, at, author=_author(author), agent_id=_agent(author), **common)
        ]
    if kind == "status_changed":
        current = str(change.get("current", "")).lower()
        previous = str(change.get("previous", "")).lower()
        if current == "solved" and previous not in SOLVED:
            return [event("ticket.resolved", event_id, at, agent_id=detail.get("assignee_id"), **common)]
        if previous in SOLVED and current not in SOLVED:
            return [event("ticket.reopened", event_id, at, **common)]
        return []
    if kind == "group_assignment_changed":
        if _group_id(change.get("current")) in lookups.escalation_groups:
            # Counted in the queue the ticket was escalated from.
            common["queue"] = _queue(_group_id(change.get("previous")), lookups)
            return [event("ticket.escalated", event_id, at, **common)]
        return []
    if kind == "priority_changed":
        current = _priority(change.get("current"))
        out = []
        if current is not None:
            changed = {**common, "priority": current}
            out.append(event("ticket.priority_changed", f"{event_id}:priority", at, **changed))
        if current in lookups.escalation_priorities:
            out.append(event("ticket.escalated", event_id, at, **common))
        return out
    if kind == "tags_changed":
        added = {str(t).lower() for t in change.get("tags_added") or []}
        if added & lookups.escalation_tags:
            return [event("ticket.escalated", event_id, at, **common)]
        return []
    return []  # other ticket events (assignee, subject, custom fields ...) carry no KPI


def _priority(value: object) -> str | None:
    """Zendesk's priority (``URGENT`` … ``LOW``) as the contract names it; None when unset."""
    return str(value).lower() if value not in (None, "", "-") else None


def _group_id(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return None if value in (None, "", 0, "0") else str(value)


def _queue(group_id: object, lookups: Lookups) -> str:
    group = _group_id(group_id)
    return "unassigned" if group is None else lookups.queue("zendesk", group)


def _author(author: JsonView) -> str:
    if str(author.get("id", "")) in SYSTEM_AUTHOR_IDS:
        return "bot"
    return "agent" if author.get("is_staff") else "customer"


def _agent(author: JsonView) -> str | None:
    return str(author["id"]) if author.get("is_staff") and author.get("id") is not None else None


PLATFORM = Platform(
    "zendesk",
    events,
    signed=Signed(
        "X-Zendesk-Webhook-Signature",
        "zendesk_signing_secret",
        lambda secret, d: signatures.zendesk_valid(
            secret,
            d.headers.get("X-Zendesk-Webhook-Signature-Timestamp"),
            d.headers.get("X-Zendesk-Webhook-Signature"),
            d.body,
            d.now,
            d.window,
        ),
    ),
)
