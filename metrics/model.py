"""The shapes that flow between the KPI engine's steps, and the keys they are stored under.

Every record here is plain JSON-ready data (lists and dicts), because each is written as-is
to a Faust table, an internal topic or a ledger entry, and read back after a restart:

- a *fact*: ``[at, counts, observations, extra]``, what one event completes for a queue;
- an *output* of an entity step: ``["facts", queue, channel, [fact, ...]]``,
  ``["lifecycle", [fact, ...]]`` or ``["contact", customer_id, contact]``;
- a *sent* message: ``[target, key, payload]``, target ``"facts"`` or ``"contacts"``, key the
  Kafka key (the aggregate's or the customer's), payload the message body;
- an entity's *state*: one dict per ticket, call, survey, agent or customer.

Keys are built here only, so the aggregation side and the engine always agree on them.
"""

from __future__ import annotations

from typing import Any

Fact = list[Any]
Output = list[Any]
Sent = list[Any]
State = dict[str, Any]

# Key of the customer-base aggregate: lifecycle facts are not per queue.
CUSTOMER_BASE_KEY = "~customers"


def queue_key(queue: str, channel: str) -> str:
    """Key of a queue and channel's aggregate, and of the fact messages addressed to it."""
    return f"{queue}|{channel}"


def bucket_key(aggregate: str, start: int) -> str:
    """Key of one event-time bucket of the aggregate keyed ``aggregate``."""
    return f"{aggregate}|{start}"


def labels_key(partition: int) -> str:
    """Key of the record of label values one fact partition has admitted."""
    return f"~labels|{partition}"
