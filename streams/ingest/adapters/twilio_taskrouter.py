"""Twilio TaskRouter event callbacks → call events.

TaskRouter posts each workspace event as a form (``EventType``, ``TaskSid``, ``TaskQueueName``,
``TaskChannelUniqueName``, ``WorkerSid``, ``Timestamp``, ``TaskAttributes`` …). Every task is
counted as a call of its channel: offered, answered, abandoned, ended. Event ids are
``twilio:<TaskSid>:<step>``: a task that enters a second queue (a transfer) is still one
offer, and a callback delivered twice is counted once.

``worker.activity.update`` becomes an agent state: the activity's name decides it (``Available``
or ``Idle``: available; ``Offline``: offline; a name with ``busy`` or ``call``: busy; with
``wrap``: wrap-up; any other, such as ``Break`` or ``Unavailable``: away), and the queues are the
worker's attribute ``queues`` (TaskQueue names, the same lookups as the tasks'); a worker without
that attribute serves no known queue and the change is ignored. Event ids are
``twilio:<WorkerSid>:activity:<Timestamp>``.

``reservation.timeout`` and ``reservation.rejected`` are offers the worker missed
(``agent.offer_missed``, reason ``timeout`` or ``rejected``), event id
``twilio:<ReservationSid>:missed``.
"""

from __future__ import annotations

import orjson

from metrics.documents import JsonObject, JsonView
from streams.ingest import signatures
from streams.ingest.adapters.common import Lookups, Platform, Signed, Unmappable, event, moment, required

STEPS = {
    "task.created": "call.queued",
    "task-queue.entered": "call.queued",
    "reservation.accepted": "call.answered",
    "task.canceled": "call.abandoned",
    "task.completed": "call.ended",
}
MISSED = {"reservation.timeout": "timeout", "reservation.rejected": "rejected"}


def events(form: JsonView, lookups: Lookups) -> list[JsonObject]:
    kind = str(form.get("EventType", ""))
    if not kind:
        raise Unmappable("missing EventType: not a TaskRouter event callback")
    if kind == "worker.activity.update":
        return _activity(form, lookups)
    if kind in MISSED:
        return _missed(form, lookups, MISSED[kind])
    type_ = STEPS.get(kind)
    if kind == "workflow.timeout":  # no worker took it before the workflow's timeout: an exit
        type_ = lookups.exit_event("timeout")
    if type_ is None:
        return []  # reservations offered, other workflow events ...
    task = required(form, "TaskSid")
    queue_name = form.get("TaskQueueName") or form.get("TaskQueueSid")
    if not queue_name:
        if kind == "task.created":
            return []  # not in a queue yet: task-queue.entered follows
        raise Unmappable(f"{kind} without TaskQueueName or TaskQueueSid")
    attributes = _attributes(form.get("TaskAttributes"))
    agent = form.get("WorkerSid") if type_ in ("call.answered", "call.ended") else None
    return [
        event(
            type_,
            f"twilio:{task}:{type_.removeprefix('call.')}",
            moment(form.get("Timestamp") or required(form, "Timestamp")),
            call_id=task,
            queue=lookups.queue("twilio", queue_name),
            channel=lookups.channel(form.get("TaskChannelUniqueName") or "voice"),
            agent_id=agent,
            customer_id=attributes.get("customer_id"),
        )
    ]


def _missed(form: JsonView, lookups: Lookups, reason: str) -> list[JsonObject]:
    task, worker = required(form, "TaskSid"), required(form, "WorkerSid")
    queue_name = form.get("TaskQueueName") or form.get("TaskQueueSid")
    if not queue_name:
        raise Unmappable("reservation event without TaskQueueName or TaskQueueSid")
    stamp = required(form, "Timestamp")
    reservation = form.get("ReservationSid") or f"{task}:{worker}:{stamp}"
    return [
        event(
            "agent.offer_missed",
            f"twilio:{reservation}:missed",
            moment(stamp),
            agent_id=worker,
            queue=lookups.queue("twilio", queue_name),
            channel=lookups.channel(form.get("TaskChannelUniqueName") or "voice"),
            call_id=task,
            reason=reason,
        )
    ]


def _activity(form: JsonView, lookups: Lookups) -> list[JsonObject]:
    worker = required(form, "WorkerSid")
    queues = _attributes(form.get("WorkerAttributes"), "WorkerAttributes").get("queues")
    if not isinstance(queues, list) or not queues:
        return []  # the worker's attributes name no queue: nothing to count it in
    name = str(required(form, "WorkerActivityName")).lower()
    if name in ("available", "idle"):
        state = "available"
    elif name == "offline":
        state = "offline"
    elif "busy" in name or "call" in name:
        state = "busy"
    elif "wrap" in name:
        state = "wrap_up"
    else:
        state = "away"
    stamp = required(form, "Timestamp")
    return [
        event(
            "agent.state_changed",
            f"twilio:{worker}:activity:{stamp}",
            moment(stamp),
            agent_id=worker,
            state=state,
            queues=[lookups.queue("twilio", q) for q in queues],
            channel=lookups.channel("voice"),
        )
    ]


def _attributes(raw: object, what: str = "TaskAttributes") -> JsonObject:
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Unmappable(f"{what} is not JSON") from None
    return value if isinstance(value, dict) else {}


PLATFORM = Platform(
    "twilio-taskrouter",
    events,
    form=True,
    signed=Signed(
        "X-Twilio-Signature",
        "twilio_auth_token",
        lambda secret, d: signatures.twilio_valid(secret, d.url, d.form, d.headers.get("X-Twilio-Signature")),
    ),
)
