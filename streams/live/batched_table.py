"""Write a Faust table once per batch of events instead of once per event.

A Faust table write sends one changelog record at once, and picks its changelog partition
from the event being processed. cxpulse's agents take events in batches; a key touched by
many events of a batch (a queue's aggregate, a busy ticket) then needs one changelog record,
not one per event. :class:`BatchedTable` keeps the batch's writes and deletions and sends
them on :meth:`flush`, each to the partition its value names (entity states carry ``_p``,
aggregates and buckets ``partition``), which is the partition of the events that built it.

The agent flushes before the batch's events are acknowledged, and Faust commits offsets
only after every buffered record reached Kafka: a crash loses neither a write nor an event.
Where the records go is the ``changelog`` writer's business: the live agents gather a batch's
records for :mod:`streams.live.direct_send`.

An *encoded* table (the entity states: one per open ticket, call and customer) keeps each value
as its JSON text, in the store as in the changelog: a million open tickets then take a third of
the memory their nested dicts and lists would, and each state is serialized once per batch,
not once for the store and again for the changelog. Its Faust table is declared with
``value_type=bytes``, so the changelog carries the same JSON as before and recovery restores
the text as it was written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import orjson

from metrics.documents import JsonObject

_DELETED = object()


def encode(value: Any) -> bytes:
    """``value``'s JSON text in a bytes object of its own length.

    ``orjson.dumps`` hands back its 4 KB working buffer; kept for as long as a ticket stays open,
    that would be ten times the text's size.
    """
    return bytes(memoryview(orjson.dumps(value)))


Changelog = Callable[[int, str, Any], None]  # (partition, key, value or None for a deletion)


def per_partition(table: Any) -> bool:
    """Whether ``table``'s store keeps a database per partition (RocksDB) rather than one dict for
    all (memory): it then files keys under the current event's partition and keeps changelog offsets."""
    return hasattr(table.data, "_dbs")


def partition_of(value: JsonObject) -> int:
    partition = value.get("_p", value.get("partition"))
    if partition is None:
        raise ValueError("a batched table value must name its partition (_p or partition)")
    return int(partition)


class BatchedTable(MutableMapping[str, Any]):
    """A view of a Faust table whose writes wait for :meth:`flush`."""

    def __init__(
        self,
        table: Any,
        changelog: Changelog,
        first: Callable[[Any], bool] | None = None,
        encoded: bool = False,
    ) -> None:
        self.table = table
        self._changelog = changelog  # where each written key goes at flush
        self._pending: JsonObject = {}
        self._deleted_from: dict[str, int] = {}
        self._first = first  # values to send before the others (buckets before their aggregate)
        self.encoded = encoded
        self.partitioned = per_partition(table)

    def _decoded(self, stored: Any) -> Any:
        return orjson.loads(stored) if self.encoded and stored is not None else stored

    def __getitem__(self, key: str) -> Any:
        value = self._pending.get(key)
        if value is None:
            return self._decoded(self.table.data[key])
        if value is _DELETED:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._pending.get(key)
        if value is None:
            stored = self.table.data.get(key)
            return default if stored is None else self._decoded(stored)
        return default if value is _DELETED else value

    def __setitem__(self, key: str, value: Any) -> None:
        self._pending[key] = value

    def __delitem__(self, key: str) -> None:
        current = self.get(key)
        if current is None:
            raise KeyError(key)
        self._deleted_from[key] = partition_of(current)
        self._pending[key] = _DELETED

    def pop(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        value = self.get(key)
        if value is None:
            return default
        del self[key]
        return value

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for key, value in self._pending.items():
            seen.add(key)
            if value is not _DELETED:
                yield key
        for key in list(self.table.data.keys()):
            if key not in seen:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> Any:  # type: ignore[override]
        """Every key and value in one pass over the store (a RocksDB store finds a key's value
        only under the current event's partition, so looking keys up one by one would miss)."""
        pending = self._pending
        for key, value in pending.items():
            if value is not _DELETED:
                yield key, value
        decoded = self._decoded
        for key, value in self.table.data.items():
            if key not in pending:
                yield key, decoded(value)

    def values(self) -> Any:  # the live table's values, as a scrape reads them
        if self.encoded:
            return map(orjson.loads, self.table.data.values())
        return self.table.data.values()

    def sweep_scope(self, partition: int) -> int | None:
        """Which keys expiry may delete while acting for ``partition``: that partition's own in
        RocksDB (a deletion goes to the current event's database), any in memory (a deletion
        goes to the changelog partition its value names, whatever the current event)."""
        return partition if self.partitioned else None

    def owned(self) -> set[int]:
        """The partitions of this table this worker owns now."""
        name = self.table.changelog_topic_name
        return {tp.partition for tp in self.table.app.assignor.assigned_actives() if tp.topic == name}

    def keys_in(self, scope: int | None) -> list[str]:
        """The stored keys of ``scope`` (a partition, or None: all), read without their values."""
        store = self.table.data
        if scope is None:
            return list(store.keys())
        db = store._dbs.get(scope)
        return [] if db is None else [store._decode_key(raw) for raw in store._visible_keys(db)]

    def rewrite_stored(self, key: str, change: Callable[[Any], bool]) -> bool:
        """Let ``change`` alter ``key``'s stored value in place, in the store only: the changelog
        keeps what was written (for what a restored worker may as well get back as it was).
        ``change`` returns whether it changed anything; so does this. Only between batches."""
        stored = self.table.data.get(key)
        if stored is None:
            return False
        value = self._decoded(stored)
        if not change(value):
            return False
        self.table.data[key] = encode(value) if self.encoded else value
        return True

    def flush(self, acting_for: Callable[[int], None] | None = None) -> int:
        """Send the batch's writes to the store and the changelog; returns how many.

        ``acting_for(partition)`` makes an event of that partition Faust's current event
        before a write: a RocksDB store files each key under the current event's partition.
        """
        if not self._pending:
            return 0
        items = list(self._pending.items())
        if self._first is not None:
            items.sort(key=lambda kv: kv[1] is _DELETED or not self._first(kv[1]))  # stable
        data, send = self.table.data, self._changelog
        for key, value in items:
            if value is _DELETED:
                partition = self._deleted_from.pop(key)
                if acting_for is not None:
                    acting_for(partition)
                data.pop(key, None)
                send(partition, key, None)
            else:
                partition = partition_of(value)
                if acting_for is not None:
                    acting_for(partition)
                if self.encoded:
                    value = encode(value)
                data[key] = value
                send(partition, key, value)
        self._pending.clear()
        return len(items)
