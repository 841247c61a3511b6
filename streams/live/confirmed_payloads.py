"""Let an in-memory entity store forget what its ledgers keep for redelivery, once Kafka has the commit.

An entity's ledger keeps what each of its recent events sent (facts, contacts) so a record
redelivered after a crash sends the very same payloads again. Kafka never redelivers a record
below its partition's committed offset, so from then on the payload is dead weight; but a
ticket that gets no further event (most open tickets, for days) would carry its first event's
payload for as long as it stays open: about half of the memory its state takes.

:class:`ConfirmedPayloads` remembers which keys each batch wrote, by source partition and
offset, and once that offset is committed rewrites those states in the store without their
confirmed payloads. The store is rewritten in place and the changelog left as it is: a worker
that restores from the changelog gets the payloads back, which is the state as written, and
drops them again at the entity's next event. Only an in-memory store is rewritten: RocksDB
keeps its values on disk, where they cost no memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from metrics.engine.ledger import forget_confirmed
from streams.live.batched_table import BatchedTable


class ConfirmedPayloads:
    def __init__(self, table: BatchedTable, committed: Callable[[Any], int | None]) -> None:
        self.table = table
        self.committed = committed  # tp -> the offset Kafka confirmed as committed
        self._written: dict[Any, deque[tuple[int, str]]] = {}  # tp -> (offset, key), in offset order
        self.forgotten = 0

    def written(self, tp: Any, offset: int, key: str) -> None:
        """The state of ``key`` now holds what the record at ``offset`` of ``tp`` sent."""
        waiting = self._written.get(tp)
        if waiting is None:
            waiting = self._written[tp] = deque()
        waiting.append((offset, key))

    def forget(self) -> int:
        """Rewrite the states whose payloads Kafka will not need again; returns how many.

        Called between batches, when the table has no pending writes.
        """
        rewrite, rewritten = self.table.rewrite_stored, 0
        for tp, waiting in self._written.items():
            committed = self.committed(tp)
            if committed is None or not waiting or waiting[0][0] >= committed:
                continue
            confirmed = partial(forget_confirmed, source=f"{tp.topic}:{tp.partition}", committed=committed)
            while waiting and waiting[0][0] < committed:
                _, key = waiting.popleft()
                rewritten += rewrite(key, confirmed)
        self.forgotten += rewritten
        return rewritten
