"""Amazon Connect contact events (as EventBridge delivers them) → call events.

EventBridge sends ``{"detail-type": "Amazon Connect Contact Event", "detail": {...}}`` with the
contact's ``eventType``, ``contactId``, ``channel``, ``queueInfo`` and ``agentInfo``. Event ids
are ``connect:<contactId>:<eventType>``, so EventBridge's retries are counted once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.ingest.adapters.common import Lookups, Unmappable, event, moment, required


def events(payload: Mapping[str, Any], lookups: Lookups) -> list[dict[str, Any]]:
    detail = payload.get("detail")
    if not isinstance(detail, Mapping) or "eventType" not in detail:
        raise Unmappable("not an Amazon Connect contact event: no detail.eventType")
    kind = str(detail["eventType"])
    contact = required(detail, "contactId")
    queue_info = detail.get("queueInfo") or {}
    agent_info = detail.get("agentInfo") or {}
    if not queue_info.get("queueArn"):
        return []  # never queued (self-service, outbound): no queue KPI
    queue_id = str(queue_info["queueArn"]).rsplit("/", 1)[-1]
    common = {
        "call_id": contact,
        "queue": lookups.queue("connect", queue_id),
        "channel": lookups.channel(detail.get("channel") or "voice"),
        "customer_id": (detail.get("customerEndpoint") or {}).get("customerId"),
    }
    event_id = f"connect:{contact}:{kind}"
    when = payload.get("time")
    agent = str(agent_info["agentArn"]).rsplit("/", 1)[-1] if agent_info.get("agentArn") else None
    if kind == "QUEUED":
        at = moment(queue_info.get("enqueueTimestamp") or when)
        return [event("call.queued", event_id, at, **common)]
    if kind == "CONNECTED_TO_AGENT":
        at = moment(agent_info.get("connectedToAgentTimestamp") or when)
        return [event("call.answered", event_id, at, agent_id=agent, **common)]
    if kind == "DISCONNECTED":
        if agent_info.get("connectedToAgentTimestamp") or agent_info.get("agentArn"):
            return []  # the talk ended; after-call work goes on until COMPLETED
        at = moment(detail.get("disconnectTimestamp") or when)
        return [event("call.abandoned", event_id, at, **common)]
    if kind == "COMPLETED":
        if not agent_info.get("agentArn"):
            return []
        at = moment(when or detail.get("disconnectTimestamp"))
        return [event("call.ended", event_id, at, agent_id=agent, **common)]
    return []  # INITIATED, CONTACT_DATA_UPDATED ...
