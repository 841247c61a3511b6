"""The KPI engine both drivers run: the live Faust agents and ``cxpulse replay``.

One event through the pure core: which step applies it to its entity, the ledger check that
makes the step run exactly once, and where its outputs go (facts to the queue's aggregate,
contacts to the customer). The drivers differ only in where state is kept (a Faust table, a
dict) and how outputs travel (internal topics, direct calls). Nothing here imports Faust,
Kafka or ``streams``.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from functools import partial
from typing import Any

from metrics.documents import JsonObject
from metrics.engine.ledger import remember, seen_before
from metrics.engine.rules.agents import agent_step, work_step
from metrics.engine.rules.calls import call_step
from metrics.engine.rules.customers import contact_step, customer_step
from metrics.engine.rules.surveys import survey_step
from metrics.engine.rules.tickets import ticket_step
from metrics.model import (
    CUSTOMER_BASE_KEY,
    WIRE_FORMAT,
    AgentWork,
    LifecycleFacts,
    Output,
    QueueFacts,
    Sent,
    State,
    check_format,
    queue_key,
)
from metrics.policy import Policy

Step = Callable[[State | None], tuple[State, list[Output]]]

STEPS: dict[str, Callable[..., tuple[State, list[Output]]]] = {
    "tickets": ticket_step,
    "calls": call_step,
    "surveys": survey_step,
    "customers": customer_step,
    "agents": agent_step,
}


def entity_step(family: str, event: Any, policy: Policy, source: str) -> Step:
    """The step applying ``event`` of ``family`` to its entity's state.

    Customer events are clocked by their source partition (``topic:partition``): purchases time
    conversions, and their facts' lateness is judged along that partition's order.
    """
    if family == "customers":
        return partial(customer_step, event=event, policy=policy, clock=source)
    return partial(STEPS[family], event=event, policy=policy)


def contact_hop(contact: JsonObject, policy: Policy) -> tuple[str, Step]:
    """A contact sent to a customer: its event id, and the step applying it to the customer."""
    check_format(contact)
    contact = dict(contact)
    contact.pop("v", None)
    event_id = contact.pop("event_id")
    return event_id, partial(contact_step, contact=contact, policy=policy)


def work_hop(message: JsonObject, policy: Policy) -> tuple[str, Step]:
    """Work sent to an agent: its ledger id, and the step counting it in the agent's day."""
    check_format(message)
    return message["event_id"], partial(work_step, work=message, policy=policy)


def touch(state: JsonObject, partition: int, event_time: float) -> None:
    """Record where the state lives and the newest event time it has seen (for expiry)."""
    state["_p"] = partition
    if event_time > state.get("_seen", 0.0):
        state["_seen"] = event_time


def route(output: Output, source: str, offset: int, event_id: str) -> Sent:
    """The message a step's output becomes on the fact, contact or agent-work stream."""
    if isinstance(output, QueueFacts):
        queue, channel, facts = output
        payload = {
            "v": WIRE_FORMAT,
            "queue": queue,
            "channel": channel,
            "source": source,
            "offset": offset,
            "facts": facts,
        }
        return Sent("facts", queue_key(queue, channel), payload)
    if isinstance(output, LifecycleFacts):
        facts = output.facts
        payload = {"v": WIRE_FORMAT, "kind": "customers", "source": source, "offset": offset, "facts": facts}
        return Sent("facts", CUSTOMER_BASE_KEY, payload)
    if isinstance(output, AgentWork):
        # The agent's ledger holds its own events' ids too: the work's id is kept apart from them.
        payload = {"v": WIRE_FORMAT, "event_id": f"work:{event_id}", **output.work}
        return Sent("agent-work", output.agent_id, payload)
    customer_id, contact = output
    return Sent("contacts", customer_id, {"v": WIRE_FORMAT, "event_id": event_id, "clock": source, **contact})


def merge_outputs(outputs: list[Output]) -> list[Output]:
    """One output per destination: receivers drop a second message from the same source record."""
    merged: list[Output] = []
    by_key: dict[tuple[str, str], QueueFacts] = {}
    for output in outputs:
        if isinstance(output, QueueFacts):
            key = (output.queue, output.channel)
            first = by_key.get(key)
            if first is not None:
                first.facts.extend(output.facts)
                continue
            by_key[key] = output
        merged.append(output)
    return merged


def process_entity(
    table: MutableMapping[str, State],
    entity_id: str,
    event_id: str,
    step: Callable[[State | None], tuple[State, list[Output]]],
    source: str,
    offset: int,
    event_time: float,
    committed: int | None = None,
    redeliverable: bool = True,
) -> tuple[str, list[Sent]]:
    """Run one entity step exactly once; return the event's status and what it sends.

    ``source`` is the record's ``topic:partition`` and ``offset`` its place there. The status
    is ``new``, ``duplicate`` (the same ``event_id`` from another record: sends nothing) or
    ``replay`` (the same record again after a crash: sends what it sent the first time, so
    receivers can recognise and drop it). ``committed`` is the source partition's committed
    offset, below which ledger entries no longer need their payloads; a record that will never
    be delivered again (``redeliverable=False``) keeps none.
    """
    origin = f"{source}:{offset}"
    state = table.get(entity_id)
    status, sent = seen_before(state, event_id, origin)
    if status == "new":
        state, outputs = step(state)
        sent = [route(out, source, offset, event_id) for out in merge_outputs(outputs)]
        remember(state, event_id, origin, sent, committed, redeliverable)
        touch(state, int(source.rsplit(":", 1)[1]), event_time)
        table[entity_id] = state
    return status, sent
