"""Zammad trigger webhooks → ticket events.

A Zammad trigger posts the ticket as it is now and the article that fired it (``{ticket,
article}``), signed with ``X-Hub-Signature`` (HMAC-SHA1 of the body with the webhook's token).
It says what the ticket *is*, not what changed, so every delivery is read whole and each fact
gets an event id from Zammad's own ids and times: the ticket's creation (``zammad:<id>:created``,
sent with every delivery, so a ticket is known whichever trigger fires first), an article
(``zammad:<id>:article:<article id>``), a close or merge (``zammad:<id>:closed:<close_at>``), a
reopen (``zammad:<id>:reopened:<close_at>``: the first delivery open again after that close) and
an escalation (``zammad:<id>:escalated``). Retried deliveries and overlapping triggers therefore
count each fact once.

The ticket's group is its queue (``zammad:<group name>`` in the queue lookups), the type of its
first article its channel. First response is the first article by an agent (``sender``
``Agent``) that is not ``internal``. Zammad computes its own SLA times by its calendars
(``first_response_in_min``, ``first_response_escalation_at`` …); docs/ingest.md says how
cxpulse's numbers relate to them.
"""

from __future__ import annotations

from collections.abc import Mapping

from metrics.documents import JsonObject, JsonView
from streams.ingest import signatures
from streams.ingest.adapters.common import Lookups, Platform, Signed, Unmappable, event, moment, required

CLOSED = {"closed", "merged"}


def events(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    ticket = payload.get("ticket")
    if not isinstance(ticket, Mapping):
        raise Unmappable("not a Zammad webhook: no ticket object")
    ticket_id = required(ticket, "id")
    group = _name(ticket.get("group")) or str(ticket.get("group_id") or "")
    common = {
        "ticket_id": f"zammad:{ticket_id}",
        "queue": lookups.queue("zammad", group or "none"),
        "channel": lookups.channel(ticket.get("create_article_type") or "web"),
        "customer_id": ticket.get("customer_id"),
    }
    prefix = f"zammad:{ticket_id}"
    author = "agent" if ticket.get("create_article_sender") == "Agent" else "customer"
    out = [event("ticket.created", f"{prefix}:created", moment(required(ticket, "created_at")),
                 author=author, **common)]  # fmt: skip
    article = payload.get("article")
    if isinstance(article, Mapping) and article.get("id") is not None and not article.get("internal"):
        sender = article.get("sender")
        first = _first_article(ticket, article)
        if sender in ("Agent", "Customer") and not first:
            out.append(
                event(
                    "ticket.replied",
                    f"{prefix}:article:{article['id']}",
                    moment(required(article, "created_at")),
                    author="agent" if sender == "Agent" else "customer",
                    agent_id=article.get("created_by_id") if sender == "Agent" else None,
                    **common,
                )
            )
    state = _name(ticket.get("state")) or ""
    closed_at = ticket.get("close_at")
    updated = ticket.get("updated_at") or ticket.get("created_at")
    if state in CLOSED:
        at = closed_at or updated
        out.append(event("ticket.resolved", f"{prefix}:closed:{at}", moment(at), **common))
    elif closed_at:  # open again after a close: a reopen, once per close
        out.append(event("ticket.reopened", f"{prefix}:reopened:{closed_at}", moment(updated), **common))
    if _escalated(ticket, group, lookups):
        out.append(event("ticket.escalated", f"{prefix}:escalated", moment(updated), **common))
    return out


def _name(value: object) -> str | None:
    """Zammad's expanded objects (``{"id": 3, "name": "Service Desk", …}``) or plain names."""
    if isinstance(value, Mapping):
        return str(value.get("name") or "") or None
    return str(value) if value not in (None, "") else None


def _first_article(ticket: JsonView, article: JsonView) -> bool:
    """The article that opened the ticket: the ticket's creation, not a reply."""
    ids = ticket.get("article_ids") or []
    return bool(ids) and ids[0] == article.get("id")


def _escalated(ticket: JsonView, group: str, lookups: Lookups) -> bool:
    priority = (_name(ticket.get("priority")) or "").lower()
    return group in lookups.zammad_escalation_groups or priority in lookups.zammad_escalation_priorities


PLATFORM = Platform(
    "zammad",
    events,
    signed=Signed(
        "X-Hub-Signature",
        "zammad_webhook_token",
        lambda secret, d: signatures.hub_valid(
            secret, d.headers.get("X-Hub-Signature"), d.body, "CXPULSE_ZAMMAD_WEBHOOK_TOKEN"
        ),
    ),
)
