"""Amazon Connect contact events (as EventBridge delivers them) → call events; agent events → agent states.

EventBridge sends ``{"detail-type": "Amazon Connect Contact Event", "detail": {...}}`` with the
contact's ``eventType``, ``contactId``, ``channel``, ``queueInfo`` and ``agentInfo``. Event ids
are ``connect:<contactId>:<eventType>``, so EventBridge's retries are counted once.

The agent event stream (Kinesis, forwarded as is) sends ``AgentEvent`` records: ``EventType``
(``LOGIN``, ``STATE_CHANGE``, ``LOGOUT``, ``HEART_BEAT``), the agent's status and its contacts in
``CurrentAgentSnapshot``, and the routing profile's inbound queues with their channels. An agent
works each channel apart in Connect (on a call and free for a chat), so each channel is an agent
of its own to cxpulse (``<agent id>:<channel>``), in the queues that route that channel to it:
busy with a connected contact, in wrap-up with an ended one (after-contact work), else available
when its status is ``Available``, offline when ``Offline``, and away in any other status (breaks,
training). Event ids are ``connect-agent:<EventId>:<channel>``. A contact of the snapshot in state
``MISSED`` (it rang the agent out) or ``REJECTED`` is a missed offer of that channel's agent
(``agent.offer_missed`` in the contact's queue, sent before the agent's new state, since the miss
came first), event id ``connect-agent:<agent>:missed:<ContactId>``: the next snapshots that still
show the contact repeat it, and the worker counts it once.
"""

from __future__ import annotations

from collections.abc import Mapping

from metrics.documents import JsonObject, JsonView
from streams.ingest.adapters.common import Lookups, Platform, Unmappable, event, moment, required

# Contact states of Amazon Connect's agent snapshot that keep the agent busy, or in after-contact work.
BUSY_CONTACTS = frozenset({"CONNECTING", "CONNECTED", "CONNECTED_ONHOLD"})
WRAP_UP_CONTACTS = frozenset({"ENDED"})
# Contact states of the snapshot that are an offer the agent did not take.
MISSED = {"MISSED": "timeout", "REJECTED": "rejected"}


def events(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    if "CurrentAgentSnapshot" in payload:
        return agent_events(payload, lookups)
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


def agent_events(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    kind = str(required(payload, "EventType"))
    if kind == "HEART_BEAT":
        return []  # a periodic snapshot: the state changes already came as STATE_CHANGE
    agent = str(required(payload, "AgentARN")).rsplit("/", 1)[-1]
    snapshot = payload.get("CurrentAgentSnapshot") or {}
    profile = (snapshot.get("Configuration") or {}).get("RoutingProfile") or {}
    status = str((snapshot.get("AgentStatus") or {}).get("Name") or "")
    at = moment(required(payload, "EventTimestamp"))
    event_id = f"connect-agent:{required(payload, 'EventId')}"
    queues_by_channel: dict[str, list[str]] = {}
    for queue in profile.get("InboundQueues") or []:
        # The queue id, as the contact events name it (CXPULSE_INGEST_QUEUES gives it a label).
        label = lookups.queue("connect", str(queue.get("ARN", "")).rsplit("/", 1)[-1])
        for channel in queue.get("Channels") or ["VOICE"]:
            queues_by_channel.setdefault(lookups.channel(channel), []).append(label)
    out = _missed(agent, snapshot, at, lookups)
    for channel, queues in queues_by_channel.items():
        contacts = {
            str(c.get("State"))
            for c in snapshot.get("Contacts") or []
            if lookups.channel(c.get("Channel") or "VOICE") == channel
        }
        if kind == "LOGOUT" or status == "Offline":
            state = "offline"
        elif contacts & BUSY_CONTACTS:
            state = "busy"
        elif contacts & WRAP_UP_CONTACTS:
            state = "wrap_up"
        else:
            state = "available" if status == "Available" else "away"
        out.append(
            event(
                "agent.state_changed",
                f"{event_id}:{channel}",
                at,
                agent_id=f"{agent}:{channel}",
                state=state,
                queues=queues,
                channel=channel,
            )
        )
    return out


def _missed(agent: str, snapshot: JsonView, at: str, lookups: Lookups) -> list[JsonObject]:
    out = []
    for contact in snapshot.get("Contacts") or []:
        reason = MISSED.get(str(contact.get("State")))
        queue_arn = contact.get("QueueARN") or (contact.get("Queue") or {}).get("ARN")
        if reason is None or not queue_arn or not contact.get("ContactId"):
            continue
        channel = lookups.channel(contact.get("Channel") or "VOICE")
        out.append(
            event(
                "agent.offer_missed",
                f"connect-agent:{agent}:missed:{contact['ContactId']}",
                moment(contact.get("StateStartTimestamp") or at),
                agent_id=f"{agent}:{channel}",
                queue=lookups.queue("connect", str(queue_arn).rsplit("/", 1)[-1]),
                channel=channel,
                call_id=str(contact["ContactId"]),
                reason=reason,
            )
        )
    return out


PLATFORM = Platform("amazon-connect", events)
