"""Genesys Cloud conversation detail events → call events.

Agents: ``v2.users.<id>.routingStatus`` (IDLE available, INTERACTING busy, NOT_RESPONDING away,
after a missed offer when the user serves one queue)
and ``v2.users.<id>.presence`` (off queue: Offline offline, any other presence away), in the user's
queues from the lookups. A Genesys notification carries ``topicName``
(``v2.detail.events.conversation.<id>.acd.start`` …) and ``eventBody`` with ``conversationId``,
``queueId``, ``mediaType``, ``eventTime`` (Unix milliseconds) and, on ``acd.end``, the
``acdOutcome``; ``acw`` (after-call work done) ends the handling. Through Amazon EventBridge
the notification comes wrapped (``version``, ``id``, ``detail-type``, ``source``, ``time``, …)
under ``detail``; both shapes are read. Event ids are
``genesys:<conversationId>:<step>``: a conversation that enters
a second queue (a transfer) is one offer, counted in the first queue.
"""

from __future__ import annotations

from collections.abc import Mapping

from metrics.documents import JsonObject, JsonView
from streams.ingest.adapters.common import Lookups, Platform, Unmappable, event, moment, required

# An agent's routing status (on queue) and presence (off queue) → the contract's agent states.
ROUTING = {"IDLE": "available", "INTERACTING": "busy", "COMMUNICATING": "busy", "NOT_RESPONDING": "away"}
PRESENCE = {"offline": "offline", "on queue": None}  # on queue: the routing status says which state
# acdOutcome values that are exits: the call left the queue unanswered, the caller still there.
EXITS = {"FLOW_OUT": "flow_out", "HOLD_TIMEOUT": "timeout", "TRANSFER": "transfer_out"}


def events(payload: JsonView, lookups: Lookups) -> list[JsonObject]:
    if "detail" in payload and "detail-type" in payload:  # the EventBridge envelope
        detail = payload["detail"]
        if not isinstance(detail, Mapping):
            raise Unmappable("EventBridge event whose detail is not an object")
        payload = detail
    topic = str(payload.get("topicName", ""))
    body = payload.get("eventBody")
    if topic.startswith("v2.users.") and isinstance(body, Mapping):
        return _agent(topic, body, lookups)
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
        if type_ is None and outcome in EXITS:
            type_ = lookups.exit_event(EXITS[outcome])
        if type_ is None:
            return []  # an outcome that says nothing about the caller (UNKNOWN, ...)
        # An exit's call.ended shares its id with the later end of the conversation: one end.
        return [event(type_, f"genesys:{conversation}:{type_.removeprefix('call.')}",
                      at, queue=lookups.queue("genesys", queue_id), **common)]  # fmt: skip
    if step in ("acw", "customer.end"):
        # After-call work ends the handling; a customer.end that names its queue ends it too
        # when no wrap-up follows. Whichever comes first counts: both share the event id.
        if not queue_id:
            return []  # no queue named: nothing to count it under
        return [event("call.ended", f"genesys:{conversation}:ended", at,
                      queue=lookups.queue("genesys", queue_id), **common)]  # fmt: skip
    return []


def _agent(topic: str, body: JsonView, lookups: Lookups) -> list[JsonObject]:
    """``v2.users.<id>.routingStatus`` and ``….presence``: the agent's state, in the queues the
    lookups give the user (``CXPULSE_INGEST_AGENT_QUEUES``; Genesys names none in these topics).
    Off queue, any presence but Offline is away: the agent is there, not taking contacts."""
    user = topic.split(".")[2]
    if topic.endswith(".routingStatus"):
        routing = body.get("routingStatus") or {}
        status = str(routing.get("status", "")).upper()
        if status == "OFF_QUEUE":
            return []  # the presence event says what the agent does instead
        state = ROUTING.get(status)
        at = routing.get("startTime")
    elif topic.endswith(".presence"):
        definition = body.get("presenceDefinition") or {}
        presence = str(definition.get("systemPresence", "")).lower()
        state = PRESENCE.get(presence, "away")
        at = body.get("modifiedDate")
    else:
        return []
    if state is None or not at:
        return []
    step = topic.rsplit(".", 1)[1]
    queues = [lookups.queue("genesys", q) for q in lookups.agent_queues.get(user, ())]
    out = [event("agent.state_changed", f"genesys:{user}:{step}:{at}", moment(at), agent_id=user,
                 state=state, queues=queues, channel="phone")]  # fmt: skip
    if step == "routingStatus" and status == "NOT_RESPONDING" and len(queues) == 1:
        # Genesys puts an agent who let an offer ring out into NOT_RESPONDING, without naming the
        # offer's queue: an agent who serves one queue missed that queue's contact. The miss goes
        # first, as the agent was available when it rang.
        missed = event("agent.offer_missed", f"genesys:{user}:missed:{at}", moment(at), agent_id=user,
                       queue=queues[0], channel="phone", reason="timeout")  # fmt: skip
        out.insert(0, missed)
    return out


PLATFORM = Platform("genesys", events)
