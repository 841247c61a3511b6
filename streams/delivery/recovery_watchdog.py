"""Unstick a worker whose state recovery waits for changelog records it has already fetched.

After a rebalance a worker reads its tables' changelog partitions up to their end before it
processes any event. Around rebalances Faust can drop changelog records it fetched before
they reach the recovery (the consumer's position is then at the partition's end while the
recovery has not seen a single record of it), and nothing seeks those partitions again: the
worker waits forever and its partitions get no KPIs. The watchdog notices a changelog
partition whose recovery made no progress for :data:`PATIENCE_SECONDS` although the consumer
is past the records the recovery needs, and reads it again from the first one missing.
Recovery ignores records it has already applied, so reading again is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from faust.types import TP, ConsumerT

from streams.delivery import consumer_thread

log = logging.getLogger("cxpulse.recovery")

PATIENCE_SECONDS = 10.0


def waiting(
    now: float,
    started_at: float | None,
    applied: Mapping[TP, int],
    highwaters: Mapping[TP, int],
    received_at: Mapping[TP, float],
    patience: float = PATIENCE_SECONDS,
) -> dict[TP, int]:
    """Changelog partitions recovery still needs and got nothing of lately: tp -> next offset needed.

    ``applied`` is the last offset recovery applied per partition (-1: none), ``highwaters``
    the last offset it must reach, ``received_at`` when it last got a record.
    """
    if started_at is None or now - started_at < patience:
        return {}
    out = {}
    for tp, highwater in highwaters.items():
        done = applied.get(tp, -1)
        if highwater is None or done >= highwater:
            continue
        last = received_at.get(tp)
        if last is None or now - last >= patience:
            out[tp] = done + 1
    return out


def stranded(needed: Mapping[TP, int], positions: Mapping[TP, int | None]) -> dict[TP, int]:
    """Of ``needed``, the partitions the consumer has read past: their records were dropped."""
    return {
        tp: offset
        for tp, offset in needed.items()
        if (position := positions.get(tp)) is not None and position > offset
    }


async def check(recovery: Any, consumer: ConsumerT, now: float) -> int:
    """Seek stranded changelog partitions of Faust's ``recovery`` back; returns how many."""
    if not recovery.in_recovery:
        return 0
    needed = waiting(
        now,
        recovery._recovery_started_at,
        recovery.active_offsets,
        recovery.active_highwaters,
        recovery._active_events_received_at,
    )
    if not needed:
        return 0
    positions = await consumer_thread.positions(consumer, needed)
    lost = stranded(needed, positions)
    for tp, offset in lost.items():
        log.warning(
            "%s: recovery is waiting for record %d, which the consumer read past (at %s); reading it again",
            tp, offset, positions[tp],
        )  # fmt: skip
        await consumer_thread.seek(consumer, tp, offset)
    return len(lost)
