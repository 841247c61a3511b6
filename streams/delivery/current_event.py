"""Faust's "current event" for agents that take records in batches.

Faust's stores and tables find a key's changelog partition through the event the stream is
processing; that is set once per event when an agent iterates event by event. cxpulse's agents
take batches, so they set it themselves for each event of a batch, and again for each partition
a batched table writes to when it flushes.
"""

from __future__ import annotations

from typing import Any


class Acting:
    """Makes each event of a batch, in turn, the stream's current event, as Faust does per event.

    Faust's stores and tables find a key's partition through the current event; an agent
    working through a batch sets it for every event it handles, and remembers one event per
    partition so :meth:`BatchedTable.flush` can act for each partition it writes to.
    """

    def __init__(self, stream: Any) -> None:
        self._set = stream._set_current_event  # Faust's own per-event hook
        self._by_partition: dict[int, Any] = {}

    def __call__(self, event: Any) -> None:
        self._set(event)
        self._by_partition[event.message.partition] = event

    def partition(self, partition: int) -> None:
        event = self._by_partition.get(partition)
        if event is not None:
            self._set(event)
