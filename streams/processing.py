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


class Outbox:
    """What one batch of events sends on: fact payloads merged per destination and source partition.

    A merged message lists ``[offset, facts]`` per source record, in offset order, so the
    aggregation still applies each record exactly once however the batches fell: a batch
    replayed after a crash may be cut differently from the one that first sent it.
    """

    def __init__(self) -> None:
        self.facts: dict[tuple[str, str], dict[str, Any]] = {}
        self.contacts: list[tuple[str, dict[str, Any]]] = []

    def add(self, sent: list[Sent]) -> None:
        for target, key, payload in sent:
            if target != "facts":
                self.contacts.append((key, payload))
                continue
            slot = self.facts.get((key, payload["source"]))
            if slot is None:
                slot = {k: v for k, v in payload.items() if k not in ("offset", "facts")}
                slot["records"] = []
                self.facts[(key, payload["source"])] = slot
            slot["records"].append([payload["offset"], payload["facts"]])

    def messages(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(target, key, message)`` to send, facts first."""
        out = [("facts", key, message) for (key, _), message in self.facts.items()]
        out += [("contacts", key, contact) for key, contact in self.contacts]
        self.facts, self.contacts = {}, []
        return out
