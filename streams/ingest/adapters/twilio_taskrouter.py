"""Twilio TaskRouter event callbacks → call events.

TaskRouter posts each workspace event as a form (``EventType``, ``TaskSid``, ``TaskQueueName``,
``TaskChannelUniqueName``, ``WorkerSid``, ``Timestamp``, ``TaskAttributes`` …). Every task is
counted as a call of its channel: offered, answered, abandoned, ended. Event ids are
``twilio:<TaskSid>:<step>``: a task that enters a second queue (a transfer) is still one
offer, and a callback delivered twice is counted once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from streams.ingest.adapters.common import Lookups, Unmappable, event, moment, required

STEPS = {
    "task.created": "call.queued",
    "task-queue.entered": "call.queued",
    "reservation.accepted": "call.answered",
    "task.canceled": "call.abandoned",
    "task.completed": "call.ended",
}


def events(form: Mapping[str, Any], lookups: Lookups) -> list[dict[str, Any]]:
    kind = str(form.get("EventType", ""))
    if not kind:
        raise Unmappable("missing EventType: not a TaskRouter event callback")
    type_ = STEPS.get(kind)
    if type_ is None:
        return []  # worker activity, reservations offered or rejected, workflow events ...
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


def _attributes(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Unmappable("TaskAttributes is not JSON") from None
    return value if isinstance(value, dict) else {}
