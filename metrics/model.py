"""The records that flow between the KPI engine's steps, and the keys they are stored under.

Each record is a named tuple: read by name in the engine, and written to JSON as a plain array
(:func:`encode`), so the internal topics, ledgers and changelogs carry exactly the arrays they
always did, and a receiver that decodes them gets lists it can read by position or rebuild
(``Fact(*fact)``). A step's outputs are one of :data:`Output`; the driver turns each into a
:class:`Sent` message for the fact or contact stream.

Keys are built here only, so the aggregation side and the engine always agree on them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from metrics.documents import JsonObject


class Fact(NamedTuple):
    """What one event completes for a queue, attributed to event time ``at``.

    ``counts`` are counter increments and ``observations`` histogram values, keyed by the names
    in :mod:`metrics.definitions`; ``extra`` holds what aggregation needs besides: ``agent``
    (distinct active agents), ``levels`` (``[[level, since, ±1], ...]``: an entity entering or
    leaving a level of the queue's state now) and ``clock`` (the source partition the time came
    from, when not the record's own).
    """

    at: float
    counts: dict[str, int]
    observations: dict[str, float]
    extra: JsonObject


class LevelMove(NamedTuple):
    """An entity entering (``delta`` +1) or leaving (−1) a level of its queue's state now, e.g.
    the backlog or the callers waiting, with the event time it entered (``since``)."""

    level: str
    since: float
    delta: int


class QueueFacts(NamedTuple):
    """Facts for the aggregate of one queue and channel."""

    queue: str
    channel: str
    facts: list[Fact]


class LifecycleFacts(NamedTuple):
    """Facts for the customer base (joins, churn): not per queue."""

    facts: list[Fact]


class ContactMade(NamedTuple):
    """A contact for the customer's own state (repeat contacts, conversions)."""

    customer_id: str
    contact: JsonObject


class AgentWork(NamedTuple):
    """What an agent did for a contact (a call handled and its handle time), for the agent's own
    figures of the day: they live in the agent's state, keyed by agent, not in a queue's."""

    agent_id: str
    work: JsonObject  # {"at", "queue", "calls_handled", "handle_seconds"}


Output = QueueFacts | LifecycleFacts | ContactMade | AgentWork


class Sent(NamedTuple):
    """A message for the ``"facts"``, ``"contacts"`` or ``"agent-work"`` stream, under its Kafka ``key``."""

    target: str
    key: str
    payload: JsonObject


State = JsonObject

# The format of the messages on the internal topics (the fact and contact streams), in each
# message as "v". A message without it was written before formats were numbered: format 1,
# the same fields. A worker reads every format up to its own; a message of a newer format
# comes from a newer worker of the same group, midway through an upgrade.
WIRE_FORMAT = 1


class NewerFormat(ValueError):
    """An internal message written by a newer cxpulse than this worker can read."""


def check_format(message: JsonObject) -> None:
    """Refuse a message this worker would misread, saying what to do."""
    version = message.get("v", 1)
    if version > WIRE_FORMAT:
        raise NewerFormat(
            f"an internal message of format {version} was written by a newer cxpulse; this worker reads "
            f"formats up to {WIRE_FORMAT}: finish upgrading every worker of the group (same CXPULSE_APP_ID)"
        )


def _array(record: tuple[Any, ...]) -> list[Any]:
    return list(record)


def encode(value: Any) -> bytes:
    """JSON of a value holding records: each record an array, as the wire formats have it."""
    return orjson.dumps(value, default=_array)


# Key of the customer-base aggregate: lifecycle facts are not per queue.
CUSTOMER_BASE_KEY = "~customers"


def queue_key(queue: str, channel: str) -> str:
    """Key of a queue and channel's aggregate, and of the fact messages addressed to it."""
    return f"{queue}|{channel}"


def bucket_key(aggregate: str, start: int) -> str:
    """Key of one event-time bucket of the aggregate keyed ``aggregate``."""
    return f"{aggregate}|{start}"


def history_key(aggregate: str, day: int) -> str:
    """Key of one UTC day of arrival counts of the aggregate keyed ``aggregate`` (the forecast's history)."""
    return f"{aggregate}|day|{day}"


def labels_key(partition: int) -> str:
    """Key of the record of label values one fact partition has admitted."""
    return f"~labels|{partition}"
