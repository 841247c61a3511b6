"""Genesys Cloud conversation detail events → call events.

A Genesys notification (webhook integration or EventBridge) carries ``topicName``
(``v2.detail.events.conversation.<id>.acd.start`` …) and ``eventBody`` with ``conversationId``,
``queueId``, ``mediaType``, ``eventTime`` (Unix milliseconds) and, on ``acd.end``, the
``acdOutcome``; ``acw`` (after-call work done) ends the handling. Event ids are
``genesys:<conversationId>:<step>``: a conversation that enters
a second queue (a transfer) is one offer, counted in the first queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.ingest.adapters.common import Lookups, Unmappable, event, moment, required


def events(payload: Mapping[str, Any], lookups: Lookups) -> list[dict[str, Any]]:
    topic = str(payload.get("topicName", ""))
    body = payload.get("eventBody")
    if not topic.startswith("v2.detail.events.conversation.") or not isinstance(body, Mapping):
        raise Unmappable("not a Genesys conversation detail event: no topicName/eventBody")
    parts = topic.split(".")
    step = "acw" if parts[-1] == "acw" else f"{parts[-2]}.{parts[-1]}"
    conversation = required(body, "conversationId")
    at = moment(required(body, "eventTime"))
    queue_id = body.get("queueId")
    common = {
        "call_id": conversation,
        "channel": lookups.channel(body.get("mediaType") or "voice"),
        "agent_id": body.get("userId"),
    }
    if step == "acd.start":
        if not queue_id:
            raise Unmappable("acd.start without queueId")
        return [event("call.queued", f"genesys:{conversation}:queued", at,
                      queue=lookups.queue("genesys", queue_id), **common)]  # fmt: skip
    if step == "acd.end":
        if not queue_id:
            raise Unmappable("acd.end without queueId")
        outcome = str(body.get("acdOutcome", "")).upper()
        type_ = {"ANSWERED": "call.answered", "ABANDON": "call.abandoned"}.get(outcome)
        if type_ is None:
            return []  # FLOW_OUT, HOLD_TIMEOUT ...: left the queue unanswered, not abandoned by the caller
        return [event(type_, f"genesys:{conversation}:{type_.removeprefix('call.')}", at,
                      queue=lookups.queue("genesys", queue_id), **common)]  # fmt: skip
    if step in ("acw", "customer.end"):
        # After-call work ends the handling; a customer.end that names its queue ends it too
        # when no wrap-up follows. Whichever comes first counts: both share the event id.
        if not queue_id:
            return []  # no queue named: nothing to count it under
        return [event("call.ended", f"genesys:{conversation}:ended", at,
                      queue=lookups.queue("genesys", queue_id), **common)]  # fmt: skip
    return []
