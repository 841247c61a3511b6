"""Each entity's ledger of recent events: what makes an entity step run exactly once.

Kafka redelivers records after a crash, and producers send the same event twice. The ledger
tells the two apart by where the record sits (``origin``: ``topic:partition:offset``): the same
event id at the same origin is a redelivery, and re-sends exactly what the first delivery sent
(receivers recognise and drop what they already have); the same id at another origin is a
producer duplicate and sends nothing. It lives inside the entity's state (``state["ledger"]``:
event id -> ``[origin, sent]``, oldest first), so it is stored, and restored after a
rebalance, in the same table write as the state it guards.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from metrics.model import State, encode

Status = Literal["new", "duplicate", "replay"]

# How many recent events per entity are remembered for duplicate detection. Tickets and
# calls have a handful of events each; a retry storm older than this is not expected.
LEDGER_SIZE = 32


def _ledger(state: State) -> dict[str, list[str]]:
    # Keyed by event id: checking an event touches one entry, not a whole ledger.
    ledger = state.get("ledger")
    return {} if ledger is None else ledger


def seen_before(state: State | None, event_id: str, origin: str) -> tuple[Status, list[Any]]:
    """Whether the event is ``new``, a ``duplicate`` or a ``replay``, and what a replay re-sends."""
    if state is None:
        return "new", []
    entry = _ledger(state).get(event_id)
    if entry is None:
        return "new", []
    seen_origin, sent = entry
    if seen_origin != origin:
        return "duplicate", []
    return "replay", orjson.loads(sent) if sent else []


def remember(
    state: State,
    event_id: str,
    origin: str,
    sent: list[Any],
    committed: int | None = None,
    redeliverable: bool = True,
) -> None:
    """Add an event to the entity's bounded ledger (oldest entries fall off).

    ``committed`` is the source partition's committed offset: Kafka will not redeliver the
    records before it, so their entries drop what they sent and keep only the id (to spot
    producer duplicates), and a long-lived ticket's state and changelog record stay small. A
    record nothing will deliver again (``redeliverable=False``: a replay's) keeps only its id.
    """
    ledger = state["ledger"] = _ledger(state)
    # Kept as JSON text: a ticket with no further event holds it for weeks, and text takes a
    # fraction of the memory of the nested lists and dicts it encodes.
    ledger[event_id] = [origin, encode(sent).decode() if sent and redeliverable else ""]
    while len(ledger) > LEDGER_SIZE:
        del ledger[next(iter(ledger))]
    if committed is not None:
        forget_confirmed(state, origin.rsplit(":", 1)[0], committed)


def forget_confirmed(state: State, source: str, committed: int) -> bool:
    """Drop the payloads of entries from ``source`` (``topic:partition``) before ``committed``.

    Kafka will not redeliver those records; their ids stay, to spot producer duplicates.
    Returns whether anything was dropped (the caller then writes the state back).
    """
    prefix = source + ":"
    dropped = False
    for entry in _ledger(state).values():
        if entry[1] and entry[0].startswith(prefix) and int(entry[0][len(prefix) :]) < committed:
            entry[1] = ""
            dropped = True
    return dropped
