"""Facts into the aggregate of their queue and channel: find or create it, cap labels, apply once.

Both drivers call :func:`fold_into_aggregate` with a fact message and the table of one fact
partition's aggregates (a Faust table live, a dict in the replay). A queue or channel value
past the cap is counted under ``other``: the message is not applied here but returned,
addressed to the ``other`` aggregate, because that aggregate may live in another fact
partition; the live worker sends it there through the fact topic, the replay folds it at once.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from functools import partial
from typing import Any

from metrics.aggregates.labels import admit_labels, new_label_record
from metrics.aggregates.queue import apply_facts, new_aggregate, new_customer_base
from metrics.documents import Aggregate, JsonObject
from metrics.model import WIRE_FORMAT, Fact, Sent, check_format, labels_key, queue_key


def fact_records(payload: JsonObject) -> list[list[Any]]:
    """``[offset, facts]`` per source record: a merged message has several, a routed one has one."""
    records = payload.get("records")
    return records if records is not None else [[payload["offset"], payload["facts"]]]


def fold_into_aggregate(
    aggregates: MutableMapping[str, Aggregate],
    key: str,
    payload: JsonObject,
    partition: int,
    label_cap: int,
    bucket_seconds: int,
    grace_seconds: int,
    history_days: int = 0,
    day_start: Callable[[str, float], float] | None = None,
) -> tuple[int, list[Sent]]:
    """Apply a fact message to the aggregate under ``key``; return records applied and messages to send on.

    Records applied before (a redelivery after a crash) are skipped and not counted. With
    ``day_start`` (a queue and a moment -> the start of the queue's day holding it), today's
    counts are kept as well.
    """
    check_format(payload)
    agg = aggregates.get(key)
    if agg is None:
        if payload.get("kind") == "customers":
            agg = new_customer_base(partition)
        else:
            record = aggregates.get(labels_key(partition)) or new_label_record(partition)
            queue, channel, changed = admit_labels(record, payload["queue"], payload["channel"], label_cap)
            if changed:
                aggregates[labels_key(partition)] = record
            if (queue, channel) != (payload["queue"], payload["channel"]):
                return 0, _send_on(payload, queue, channel, partition)
            agg = new_aggregate(queue, channel, partition)
    source, applied = payload["source"], 0
    today = partial(day_start, agg["queue"]) if day_start is not None else None
    for offset, facts in fact_records(payload):
        applied += apply_facts(
            agg, facts, source, offset, bucket_seconds, grace_seconds, aggregates, history_days, today
        )
    if applied:
        aggregates[key] = agg
    return applied, []


def _send_on(payload: JsonObject, queue: str, channel: str, partition: int) -> list[Sent]:
    """The message's records, addressed to the folded aggregate.

    They reach it through this partition: the path is added to their source and clocks, so
    their order and lateness are judged along it, as for contacts.
    """
    path = f">{partition}"
    source = payload["source"]
    sent: list[Sent] = []
    for offset, facts in fact_records(payload):
        moved = [
            Fact(
                at,
                counts,
                observations,
                {**(extra or {}), "clock": (extra or {}).get("clock", source) + path},
            )
            for at, counts, observations, extra in facts
        ]
        message = {
            "v": WIRE_FORMAT,
            "queue": queue,
            "channel": channel,
            "source": source + path,
            "offset": offset,
            "facts": moved,
        }
        sent.append(Sent("facts", queue_key(queue, channel), message))
    return sent
