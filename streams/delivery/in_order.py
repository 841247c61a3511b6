"""Agents take each partition's records in offset order, every one of them, and no other way.

cxpulse's receivers recognise a record processed again after a crash by its source offset
being at or below the last one they applied, and Faust commits the first run of offsets its
streams acknowledged. Both are exact only if every agent sees each partition's records in
offset order without holes. Faust does not promise that around a rebalance: it drops
records it fetched but had not processed (flow control off, an older group generation, a
fetch that returns after a seek) and counts on re-reading them from the committed offset.
A record dropped that way can be stepped over by a commit, or come back only after later
records of its partition were processed (and then be taken for a replay), and a partition
the group never committed is not sought at all, so a record dropped there is never read.

:class:`InOrder` holds the next offset each partition must deliver. A record past it is
refused: not processed, not acknowledged (so no commit can pass it), and the partition is
read again from the expected offset. The expected offsets start at the positions the
consumer seeks to after each rebalance; :func:`install` makes Faust report those, and seek a
partition with no committed offset to its first record, as the group's reset policy would.
A record of a partition missing from those positions is refused too: it was fetched before
its partition moved to another worker, whose facts it would overtake. For the same reason no
record is due at all while the group rebalances.

A refused record is what normally tells a partition to be read again; when none comes, nothing
would. Around a rebalance Faust can let the consumer's read position run past records it then
never hands over (its own record of the last offset read is set by a fetch that returns after
the rebalance's seek, and it drops anything older): a partition whose traffic has paused then
waits forever for a record that was fetched and dropped. So a partition whose agent got nothing
for :data:`QUIET_SECONDS` while the consumer is past the expected offset is read again from
there, once per expected offset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from faust.types import TP, ConsumerT

from streams.delivery import consumer_thread
from streams.delivery.recovery_watchdog import stranded

log = logging.getLogger("cxpulse.order")

# A partition sent back to its expected offset that has made no progress this long is sent
# back again: records fetched before the seek can push Faust's read position past it.
RESEEK_AFTER_SECONDS = 3.0
# A partition whose agent got no record this long, though the consumer read past the expected
# one, is read again from it.
QUIET_SECONDS = 10.0


class InOrder:
    """The next offset each partition owes its agent; which partitions must be read again."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._next: dict[TP, int] = {}
        self._behind: dict[TP, float | None] = {}  # partition -> when last sent back (None: not yet)
        self._clock = clock
        self._started = False  # positions known: a partition outside them is not this worker's
        self._strangers: set[TP] = set()
        self._replayed: dict[TP, int] = {}  # partition -> last record taken from before the expected one
        self._watch: dict[TP, tuple[tuple[int, int | None], float]] = {}  # progress mark, since when
        self._resent: dict[TP, int] = {}  # partition -> expected offset it was read again from, quiet
        self.refused = 0

    def start_at(self, positions: Mapping[TP, int]) -> None:
        """The consumer now reads each partition it owns from the offset ``positions`` gives.

        Partitions missing from ``positions`` left this worker; should one come back, it
        starts again from where the consumer is sent then.
        """
        self._next = dict(positions)
        self._behind.clear()
        self._strangers.clear()
        self._replayed.clear()
        self._watch.clear()
        self._resent.clear()
        self._started = True

    def admit(self, tp: TP, offset: int, moving: bool = False) -> bool:
        """Whether the record at ``offset`` of ``tp`` is the one due (or one already seen).

        While partitions are ``moving`` (a rebalance) nothing is due: the record may belong
        to a partition another worker reads from now on. Its partition is read again from
        the expected offset once the rebalance is over, unless the rebalance's seek does it.
        """
        expected = self._next.get(tp)
        if expected is None:
            if self._started or moving:
                self.refused += 1
                if self._started:
                    self._strangers.add(tp)
                return False
            self._next[tp] = offset + 1
            return True
        if moving:
            self.refused += 1
            if offset >= expected:  # owed: read it again (an older one is a replay, owed nothing)
                self._behind.setdefault(tp, None)
            return False
        if offset <= expected:
            if offset == expected:
                self._next[tp] = offset + 1
                self._behind.pop(tp, None)
            else:
                self._replayed[tp] = offset
            return True
        self.refused += 1
        if tp not in self._behind:
            log.info("%s: record %d came before %d; reading the partition again from %d", tp, offset,
                        expected, expected)  # fmt: skip
            self._behind[tp] = None
        return False

    def due(self) -> dict[TP, int]:
        """Partitions to send back to their expected offset now; each is then timed."""
        now = self._clock()
        out = {}
        for tp, since in self._behind.items():
            if since is None or now - since >= RESEEK_AFTER_SECONDS:
                out[tp] = self._next[tp]
                self._behind[tp] = now
        return out

    def quiet(self) -> dict[TP, int]:
        """Partitions whose agent took no record for :data:`QUIET_SECONDS`: tp -> the expected offset.

        Called every second or so; a partition is named once per quiet spell of that length, and
        not at all while being read again or once read again from the same expected offset.
        """
        now, watch = self._clock(), self._watch
        out = {}
        for tp, expected in self._next.items():
            if tp in self._behind or self._resent.get(tp) == expected:
                continue
            mark = (expected, self._replayed.get(tp))
            seen = watch.get(tp)
            if seen is None or seen[0] != mark:
                watch[tp] = (mark, now)
            elif now - seen[1] >= QUIET_SECONDS:
                out[tp] = expected
                watch[tp] = (mark, now)
        return out

    def resent(self, tp: TP, offset: int) -> None:
        """``tp`` was read again from ``offset`` because it stayed :meth:`quiet`."""
        self._resent[tp] = offset
        log.info("%s: no record for %.0f s though the consumer read past %d; reading the partition again"
                 " from there", tp, QUIET_SECONDS, offset)  # fmt: skip

    def strangers(self) -> set[TP]:
        """Partitions whose records came though the last positions did not name them."""
        return set(self._strangers)

    def skip_to(self, tp: TP, offset: int) -> None:
        """Kafka holds nothing of ``tp`` before ``offset`` any more (retention): expect it there."""
        if self._next.get(tp, offset) < offset:
            log.warning("%s: records before %d are gone from Kafka; reading on from there", tp, offset)
            self._next[tp] = offset


async def send_back(in_order: InOrder, consumer: ConsumerT) -> int:
    """Seek every partition :meth:`InOrder.due` names; returns how many were sought.

    A partition the worker owns though its position was never reported (a seek after a
    rebalance that failed) is sent back, with all others, to its committed offset.
    """
    assignment = consumer.assignment()
    if in_order.strangers() & assignment:
        log.warning("partitions owned without a known position: reading all from their commits")
        await consumer.perform_seek()
        return len(assignment)
    due = {tp: offset for tp, offset in in_order.due().items() if tp in assignment}
    quiet = {tp: offset for tp, offset in in_order.quiet().items() if tp in assignment}
    if quiet:
        positions = await consumer_thread.positions(consumer, quiet)
        for tp, offset in stranded(quiet, positions).items():
            in_order.resent(tp, offset)
            due[tp] = offset
    if not due:
        return 0
    for tp, first in (await consumer.earliest_offsets(*due)).items():
        if first is not None and first > due[tp]:
            in_order.skip_to(tp, first)
            due[tp] = first
    for tp, offset in due.items():
        await consumer_thread.seek(consumer, tp, offset)
    return len(due)


_INSTALLED = False


def install(consumer: ConsumerT, on_seek: Callable[[Mapping[TP, int]], None]) -> None:
    """Make Faust's seek after a rebalance report to ``on_seek`` where ``consumer`` now reads from.

    A partition the group has not committed (Kafka answers None, or 0) is not moved by
    Faust's seek and keeps a fetch position that may be past records dropped during the
    rebalance; it is sought to its first record here, as the group's reset policy would.
    """
    global _INSTALLED
    consumer._cxpulse_on_seek = on_seek
    if _INSTALLED:
        return
    _INSTALLED = True
    from faust.transport.consumer import Consumer
    from faust.transport.drivers.aiokafka import Consumer as KafkaConsumer

    original_seek_to_committed = KafkaConsumer.seek_to_committed
    original = Consumer.perform_seek

    async def seek_to_committed(self: Any) -> Mapping[TP, int]:
        # Kept for perform_seek below, which reads it before anything else can run.
        self._cxpulse_committed = offsets = await original_seek_to_committed(self)
        return offsets

    async def perform_seek(self: Any) -> None:
        self._cxpulse_committed = {}
        await original(self)
        acking = self.app.topics.acks_enabled_for
        tracked = {tp: offset for tp, offset in self._cxpulse_committed.items() if acking(tp.topic)}
        fresh = [tp for tp, offset in tracked.items() if not offset or offset < 0]
        if fresh:
            for tp, first in (await self.earliest_offsets(*fresh)).items():
                await self.seek(tp, first)
                tracked[tp] = first
        on_seek = getattr(self, "_cxpulse_on_seek", None)
        if on_seek is not None:
            on_seek({tp: int(offset) for tp, offset in tracked.items() if offset is not None})

    KafkaConsumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]
