"""One entity event through the pure KPI core: the ledger check, the step, and what to send.

The live agents and ``cxpulse replay`` both run every event through :func:`process_entity`,
so a ticket's state, its duplicate detection and the facts it yields are the same code in
both paths; only where the state is kept (a Faust table, a dict) and how the outputs travel
(internal topics, direct calls) differ. Nothing here imports Faust or Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from metrics.entities import Output, State, merge_outputs, remember, seen_before
from streams.state_expiry import StateExpiry

# Key of the customer-base aggregate: lifecycle facts are not per queue.
CUSTOMER_BASE_KEY = "~customers"

Sent = list[Any]  # [target, key, payload]; target is "facts" or "contacts"


def route(output: Output, source: str, offset: int, event_id: str) -> Sent:
    """Turn a step's output into ``[target, key, payload]`` for the fact or contact stream."""
    kind = output[0]
    if kind == "facts":
        _, queue, channel, facts = output
        payload = {"queue": queue, "channel": channel, "source": source, "offset": offset, "facts": facts}
        return ["facts", f"{queue}|{channel}", payload]
    if kind == "lifecycle":
        payload = {"kind": "customers", "source": source, "offset": offset, "facts": output[1]}
        return ["facts", CUSTOMER_BASE_KEY, payload]
    _, customer_id, contact = output
    return ["contacts", customer_id, {"event_id": event_id, "clock": source, **contact}]


def process_entity(
    table: MutableMapping[str, State],
    entity_id: str,
    event_id: str,
    step: Callable[[State | None], tuple[State, list[Output]]],
    source: str,
    offset: int,
    event_time: float,
    committed: int | None = None,
) -> tuple[str, list[Sent]]:
    """Run one entity step exactly once; return the event's status and what it sends.

    ``source`` is the record's ``topic:partition`` and ``offset`` its place there. The status
    is ``new``, ``duplicate`` (the same ``event_id`` from another record: sends nothing) or
    ``replay`` (the same record again after a crash: sends what it sent the first time, so
    receivers can recognise and drop it). ``committed`` is the source partition's committed
    offset, below which ledger entries no longer need their payloads.
    """
    origin = f"{source}:{offset}"
    state = table.get(entity_id)
    status, sent = seen_before(state, event_id, origin)
    if status == "new":
        state, outputs = step(state)
        sent = [route(out, source, offset, event_id) for out in merge_outputs(outputs)]
        remember(state, event_id, origin, sent, committed)
        StateExpiry.touch(state, int(source.rsplit(":", 1)[1]), event_time)
        table[entity_id] = state
    return status, sent
