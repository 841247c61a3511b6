"""Make Faust commit an offset only when everything before it is done and delivered.

Two guarantees cxpulse's exact counts depend on, which Faust alone does not give:

*Delivered.* Faust produces table changelog records and ``send_soon`` records through a
buffer and, before committing consumer offsets, flushes that buffer. The flush gives up as
soon as no record has left the buffer for 0.1 s, so under load it can return with records
still queued; the offsets are committed anyway, and a crash at that moment loses those
records (a KPI fact or a changelog update) for good, because Kafka will not redeliver the
committed events. Here the commit waits for the delivery of every record buffered before it.

*Done.* During a rebalance Faust drops messages it has fetched but not yet processed
(flow control is off, or they belong to the previous group generation) and counts on
reading them again from the committed offset. Its commit, however, accepts an acknowledged
run of offsets that starts one past the committed offset, so a commit made while the
partitions are being revoked can step over exactly one dropped message, which then is never
processed. Here a commit must start at the committed offset itself, whose record must be processed.
Should no seek bring that record back, the partition is read again from it; a partition
the group never committed is read again from its first record after a rebalance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer

log = logging.getLogger("cxpulse.commit")

_INSTALLED = False

# A record at the committed offset still unprocessed this long after later ones were is not
# coming by itself: the partition is read again from it.
REREAD_AFTER_SECONDS = 10.0


def install() -> None:
    """Patch Faust's producer buffer and consumer once per process."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    _wait_for_delivery()
    _commit_only_processed_offsets()


def _wait_for_delivery() -> None:
    original_put = ProducerBuffer.put

    def put(self: Any, fut: asyncio.Future) -> None:
        unsent: set[asyncio.Future] = self.__dict__.setdefault("_cxpulse_unsent", set())
        unsent.add(fut)
        fut.add_done_callback(unsent.discard)
        original_put(self, fut)

    async def flush(self: Any) -> None:
        unsent = list(self.__dict__.get("_cxpulse_unsent", ()))
        if not unsent:
            return
        done, _ = await asyncio.wait(unsent)
        failed = [f for f in done if not f.cancelled() and f.exception() is not None]
        if failed:
            log.error("%d buffered records failed to reach Kafka: %r", len(failed), failed[0].exception())

    ProducerBuffer.put = put  # type: ignore[method-assign]
    ProducerBuffer.flush = flush  # type: ignore[method-assign]


def _commit_only_processed_offsets() -> None:
    original_new_offset = Consumer._new_offset
    original_perform_seek = Consumer.perform_seek

    def _new_offset(self: Any, tp: Any) -> int | None:
        committed = self._committed_offset[tp]
        acked = self._acked[tp]
        if not acked or committed is None:
            return original_new_offset(self, tp)
        if committed not in self._acked_index[tp] and not self._gap[tp].overlaps_point(committed):
            unprocessed_head(self, tp, committed)
            return None
        # Faust's gap marks include the record fetched after the gap, which is acknowledged
        # too: the repeat would end each run of offsets early, and a partition read again
        # after a rebalance would then commit a step or two per interval.
        if len(acked) != len(self._acked_index[tp]) or min(acked) < committed:
            acked[:] = sorted({offset for offset in acked if offset >= committed})
        return original_new_offset(self, tp)

    async def perform_seek(self: Any) -> None:
        await original_perform_seek(self)
        self.__dict__.pop("_cxpulse_stuck", None)  # every partition reads from its commit again
        # A partition with no committed offset keeps its fetch position, past any record
        # dropped during the rebalance: start it from its first record instead, as the
        # group's reset policy (earliest) would, and let the commit begin there.
        acking = self.app.topics.acks_enabled_for
        committed = self._committed_offset
        fresh = [tp for tp in self.assignment() if acking(tp.topic) and committed.get(tp) is None]
        if fresh:
            for tp, start in (await self.earliest_offsets(*fresh)).items():
                await self.seek(tp, start)
                committed[tp] = start

    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]


def unprocessed_head(consumer: Any, tp: Any, committed: int, now: float | None = None) -> None:
    """Note that the record at ``tp``'s committed offset is not processed, yet later ones came.

    It was set aside during a rebalance and normally comes again with the rebalance's seek;
    :func:`reread_stuck` acts if it does not.
    """
    stuck: dict[Any, list[Any]] = consumer.__dict__.setdefault("_cxpulse_stuck", {})
    state = stuck.get(tp)
    if state is None or state[0] != committed:
        stuck[tp] = [committed, time.monotonic() if now is None else now, False]


def reread_stuck(consumer: Any, now: float | None = None) -> int:
    """Read partitions stuck for :data:`REREAD_AFTER_SECONDS` again from their committed offset.

    If even that read does not bring the record there, Kafka holds no message at that offset
    (a transaction marker, say): the commit may pass it, and the partition is read once more
    so that the records after it are taken. Returns how many partitions it sent back.
    """
    stuck: dict[Any, list[Any]] = consumer.__dict__.get("_cxpulse_stuck", {})
    if not stuck or consumer.app.rebalancing:
        return 0
    now = time.monotonic() if now is None else now
    seeks: set[asyncio.Future] = consumer.__dict__.setdefault("_cxpulse_seeks", set())
    sent = 0
    for tp, state in list(stuck.items()):
        committed, since, reread = state
        if consumer._committed_offset.get(tp) != committed or committed in consumer._acked_index[tp]:
            del stuck[tp]  # it came, or the partition moved on
            continue
        if now - since <= REREAD_AFTER_SECONDS:
            continue
        if reread:
            log.warning("%s: no record at offset %d; reading on after it", tp, committed)
            consumer._gap[tp].addi(committed, committed + 1)
            del stuck[tp]
        else:
            log.warning(
                "%s: record %d was set aside and never processed; reading again from it", tp, committed
            )
            state[1:] = [now, True]
        seek = asyncio.ensure_future(consumer.seek(tp, committed))
        seeks.add(seek)
        seek.add_done_callback(seeks.discard)
        sent += 1
    return sent


class InOrder:
    """Lets an agent take each partition's records in offset order, and no other way.

    During a rebalance Faust may set a record aside and still hand over later records of the
    same partition, trusting a later seek to bring the set-aside one back. cxpulse's receivers
    recognise a replay by its source offset being at or below what they already applied, so a
    record first processed after a later one would be taken for a replay and lost. A record
    that jumps past one not yet processed is refused here: it is neither processed nor
    acknowledged, and comes again, in order, when the partition is read again.
    """

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self._next: dict[Any, int] = {}

    def admit(self, message: Any) -> bool:
        tp, offset = message.tp, message.offset
        consumer = self.consumer
        committed = consumer._committed_offset.get(tp)
        expected = self._next.get(tp, committed)  # a partition new here starts at its commit
        if (
            expected is None
            or offset <= expected
            or offset == committed  # reading starts again at the commit after a seek
            or consumer._gap[tp].overlaps(expected, offset)  # Kafka has nothing in between
        ):
            self._next[tp] = offset + 1
            return True
        message.acked = True  # so Faust never counts it as done
        consumer._unacked_messages.discard(message)
        if committed is not None:
            unprocessed_head(consumer, tp, committed)
        return False
