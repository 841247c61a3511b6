"""Forget tickets, calls, survey subjects and customers nobody has heard of for a long time.

Entity state would otherwise grow with every contact ever made. Faust tables can only be
written while processing an event, and a deletion goes to the changelog partition of that
event, so expiry runs inside the entity agents: every few thousand events, the agent checks
a slice of the table's keys that live in the partition of the event at hand, and deletes
those whose newest event is older than the retention.

A sweep lists keys, never values: with a million open tickets in RocksDB, decoding every
state to find a partition's keys would hold them all in memory at once. A table that knows
its keys per partition (or that may delete a key of any partition it owns while acting for any
of them, as an in-memory store may) says so through ``sweep_scope``, ``keys_in`` and ``owned``;
a plain dict's keys are sorted by their states' ``_p``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from metrics.engine.steps import touch

SWEEP_EVERY = 2000  # events between two sweeps of one table
SWEEP_SECONDS = 30.0  # and at most this long apart, however quiet the table
SWEEP_SLICE = 1000  # keys looked at per sweep


class StateExpiry:
    def __init__(
        self,
        table: MutableMapping[str, Any],
        retention_seconds: float,
        sweep_seconds: float | None = SWEEP_SECONDS,
    ) -> None:
        self.table = table
        self.retention = retention_seconds
        self.sweep_seconds = sweep_seconds
        self._countdown = SWEEP_EVERY
        self._due: float | None = None
        # Scope (a partition, or None: any) -> the keys of its listing and how far sweeps got.
        self._pending: dict[int | None, tuple[list[str], int]] = {}
        self.expired = 0

    touch = staticmethod(touch)  # what the engine records on every state this expiry reads

    def tick(self, partition: int, now: float | None = None) -> int:
        """Call once per event, while processing an event of ``partition``; returns keys deleted.

        A sweep runs every :data:`SWEEP_EVERY` events, or sooner once ``sweep_seconds`` have
        passed, so a quiet live table forgets at the pace of the clock, not of its traffic. A
        replay, racing through days of history, sweeps by events only (``sweep_seconds=None``).
        """
        now = time.time() if now is None else now
        if self.sweep_seconds is not None and self._due is None:
            self._due = now + self.sweep_seconds
        self._countdown -= 1
        if self._countdown > 0 and (self._due is None or now < self._due):
            return 0
        self._countdown = SWEEP_EVERY
        if self.sweep_seconds is not None:
            self._due = now + self.sweep_seconds
        return self.sweep(partition, now)

    def sweep(self, partition: int, now: float) -> int:
        scope, chunk = self._next_slice(partition)
        # Only states of partitions this worker owns: a stale copy of another's would otherwise
        # write a tombstone over a state its owner still updates.
        owned = {partition} if scope is not None else self.table.owned()  # type: ignore[attr-defined]
        cutoff = now - self.retention
        deleted = 0
        for key in chunk:
            state = self.table.get(key)
            if state is None or state.get("_p") not in owned:
                continue
            if state.get("_seen", now) < cutoff:
                del self.table[key]
                deleted += 1
        self.expired += deleted
        return deleted

    def _next_slice(self, partition: int) -> tuple[int | None, list[str]]:
        """The next keys for a sweep acting for ``partition``: its listing is made afresh when done.

        The listing is kept whole and read slice by slice (cutting the slice off the list would
        copy the rest on every sweep: quadratic in the table's size).
        """
        table = self.table
        scoped = hasattr(table, "sweep_scope")
        scope = table.sweep_scope(partition) if scoped else partition  # type: ignore[attr-defined]
        keys, done = self._pending.get(scope, ((), 0))
        if done >= len(keys):
            if scoped:
                keys = table.keys_in(scope)  # type: ignore[attr-defined]
            else:
                keys = [k for k, v in table.items() if isinstance(v, dict) and v.get("_p") == partition]
            done = 0
        self._pending[scope] = (keys, done + SWEEP_SLICE)
        return scope, keys[done : done + SWEEP_SLICE]


def expiry_by_family(
    tables: Mapping[str, MutableMapping[str, Any]],
    retention_days: float,
    call_retention_days: float,
    sweep_seconds: float | None = SWEEP_SECONDS,
) -> dict[str, StateExpiry]:
    """One expiry per entity table: calls are kept for their own, shorter, retention."""
    day = 86400.0
    return {
        family: StateExpiry(
            table, (call_retention_days if family == "calls" else retention_days) * day, sweep_seconds
        )
        for family, table in tables.items()
    }
