"""The offsets Kafka has confirmed as committed, per source partition.

An entity's ledger drops the payloads of records Kafka will never redeliver, and it may
only trust a commit that Kafka accepted. Faust's own record of committed offsets advances
even when a commit fails because the group is rebalancing; the records behind such an
offset are processed again by the next owner of the partition, which must then find in the
ledger exactly what they sent the first time. Faust tells its tables about a commit only
once Kafka accepted it, so that is where these offsets are taken from.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from faust.types import TP
from faust.types.tables import TableManagerT


class ConfirmedCommits:
    """Next offset to read, per topic partition, as last confirmed by Kafka on this worker.

    An offset stays valid after its partition moves away: a group's committed offsets only
    grow, so it remains a safe lower bound if the partition comes back.
    """

    def __init__(self) -> None:
        self._offsets: dict[TP, int] = {}

    def get(self, tp: TP) -> int | None:
        return self._offsets.get(tp)

    def confirm(self, offsets: MutableMapping[TP, int]) -> None:
        for tp, offset in offsets.items():
            if offset > self._offsets.get(tp, -1):
                self._offsets[tp] = offset

    def follow(self, tables: TableManagerT) -> ConfirmedCommits:
        """Hook into a Faust table manager's ``on_commit``, which runs after a successful commit."""
        on_commit = tables.on_commit

        def confirmed(offsets: MutableMapping[TP, int]) -> None:
            self.confirm(offsets)
            on_commit(offsets)

        tables.on_commit = confirmed
        return self
