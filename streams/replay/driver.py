"""Recompute KPIs for history in one pass, without Faust: the batch path behind ``cxpulse replay``.

Each record goes through the same validation and the same engine as the live worker
(:mod:`metrics.engine`), but state lives in plain dicts and facts are folded at once instead
of travelling through internal topics. For the same events the KPIs come out the same as
live; only lateness can be judged differently, because the live worker may see partitions
in another interleaving.

Snapshots: as the replayed stream's clock (its newest event time) passes each multiple
of ``step``, the exporter's families are taken as a live scrape at that moment would have
seen them, and handed to ``on_snapshot``.
"""

from __future__ import annotations

import gc
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import overload

import orjson
from prometheus_client.core import Metric

from metrics.aggregates.labels import new_label_record
from metrics.contract.events import FAMILIES, TICKETS, Event, Family, entity_key, family_of
from metrics.contract.validation import Rejection, validate
from metrics.definitions import WINDOWS, WORKER_SERIES
from metrics.documents import Aggregate, JsonObject
from metrics.engine.expiry import expiry_by_family
from metrics.engine.fold import fact_records, fold_into_aggregate
from metrics.engine.steps import Step, contact_hop, entity_step, process_entity, work_hop
from metrics.export.collector import Holdings, KpiCollector, declared
from metrics.export.sinks import F, Sink
from metrics.model import bucket_key, history_key, labels_key
from streams.settings import Settings

FREEZE_EVERY = 50_000  # records between two gc.freeze() calls in run()


@dataclass(slots=True)
class Record:
    """One stored event: its family, Kafka key and raw value, and where it was read from.

    Not frozen: a frozen dataclass sets each field through ``object.__setattr__``, which made
    creating one three times as slow (a microsecond for every record replayed).
    """

    family: Family | None  # None when a line names no known event family
    key: bytes | None
    value: bytes
    source: str  # "topic:partition" (Kafka) or "file:0" (JSON Lines)
    offset: int


def record_from_line(line: bytes, source: str, offset: int) -> Record:
    """A JSON Lines event: the family comes from its ``type``, the key from its entity id."""
    try:
        doc = orjson.loads(line)
        family = family_of(doc)
    except (orjson.JSONDecodeError, AttributeError):
        return Record(None, None, line, source, offset)
    if family is None:
        return Record(None, None, line, source, offset)
    key = entity_key(doc, family)
    return Record(family, None if key is None else key.encode(), line, source, offset)


class Replay:
    """The KPI state of a replayed stream, fed record by record."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = settings.policy()
        # History is what a replay is for: no age limit; timestamps far in the future still fail.
        self.limits = replace(settings.limits(), max_age_seconds=float("inf"))
        self.tables: dict[str, JsonObject] = {name: {} for name in FAMILIES}
        # One fact partition: every aggregate, bucket and the label record in one dict.
        self.aggregates: dict[str, Aggregate] = {labels_key(0): new_label_record(0)}
        self.expiry = expiry_by_family(
            self.tables, settings.state_retention_days, settings.call_state_retention_days, sweep_seconds=None
        )
        self.clock: float | None = None  # newest event time so far
        # What a worker counts as it reads, by topic as it would: valid events by type (counted
        # once applied, so a snapshot holds exactly the events before it), rejections by reason,
        # and repeats. Records of no known family count under the topic "unknown".
        self.topics = {**settings.source_topics(), "unknown": "unknown"}
        self.events: Counter[tuple[str, str]] = Counter()  # (topic, type) -> valid events
        self.invalid: Counter[tuple[str, str]] = Counter()  # (topic, reason) -> rejected
        self.duplicate: Counter[str] = Counter()  # topic -> repeated events
        self.rejections: list[tuple[Record, Rejection]] = []
        self.keep_rejections = True
        self._sequence = 0  # numbers the fact messages: each is applied exactly once
        self._cap = settings.max_label_values
        self._collector: KpiCollector | None = None  # one for every snapshot: it keeps settled sums
        self._snapshot_at = 0.0
        # Aggregates that facts reached since the last snapshot (None: take every one next time).
        # With the earliest event time of their facts: a forecast reads only what came before
        # its interval, and a fact at or after that leaves it as it was.
        self._touched: dict[str, float] | None = None
        self._keys: set[str] = set()  # every aggregate a fact reached (see holdings)
        self._days: dict[str, tuple[list[int], list[Aggregate]]] = {}  # see _days_of

    def accept(self, record: Record) -> Event | None:
        """The record's validated event, or None after counting and keeping its rejection."""
        family = record.family
        if family is None:
            # Parsed as a ticket, the record gets its precise reason (malformed, no type, ...).
            result = validate(record.value, record.key, TICKETS, self.limits)
            if not isinstance(result, Rejection):
                result = Rejection("unknown_type", "no known event type in the record")
            self._reject(record, result, "unknown")
            return None
        result = validate(record.value, record.key, family, self.limits)
        if isinstance(result, Rejection):
            self._reject(record, result, family.name)
            return None
        return result

    def apply(self, event: Event, record: Record) -> None:
        """Run an accepted event through its entity and into the aggregates."""
        family = record.family
        assert family is not None
        at = event.at
        if self.clock is None or at > self.clock:
            self.clock = at
        self.events[(self.topics[family.name], event.type)] += 1
        step = entity_step(family.name, event, self.policy, record.source)
        self._process(family.name, getattr(event, family.entity_field), event.event_id, step, record, at)

    def _process(
        self, name: str, entity_id: str, event_id: str, step: Step, record: Record, at: float
    ) -> None:
        table = self.tables[name]
        status, sent = process_entity(
            table, entity_id, event_id, step, record.source, record.offset, at, redeliverable=False
        )
        if status == "duplicate":
            # A contact or an agent's work is never a duplicate of its own: its event's repeat counted.
            if record.family is not None and name == record.family.name:
                self.duplicate[self.topics[name]] += 1
            return
        partition = int(record.source.rsplit(":", 1)[1])
        self.expiry[name].tick(partition, now=self.clock)
        for target, key, payload in sent:
            if target == "facts":
                self._apply(key, payload)
            elif target == "agent-work":
                work_id, step = work_hop(payload, self.policy)
                self._process("agents", key, work_id, step, record, payload["at"])
            else:
                contact_id, step = contact_hop(payload, self.policy)
                self._process("customers", key, contact_id, step, record, payload["at"])

    def _apply(self, key: str, payload: JsonObject) -> None:
        # Messages from one record share its offset (a ticket's facts and its contact's): each
        # gets the next number of the sequence instead, as the only offset of its source.
        self._sequence += 1
        pending = [(key, {**payload, "offset": self._sequence})]
        settings = self.settings
        touched = self._touched
        while pending:
            key, message = pending.pop()
            self._keys.add(key)
            if touched is not None:
                earliest = min(fact[0] for _, facts in fact_records(message) for fact in facts)
                if earliest < touched.get(key, math.inf):
                    touched[key] = earliest
            _, send_on = fold_into_aggregate(
                self.aggregates,
                key,
                message,
                0,
                self._cap,
                settings.bucket_seconds,
                settings.grace_seconds,
                self.policy.forecast.history_days,
                self.policy.day_start,
            )
            pending.extend((target_key, sent) for _, target_key, sent in send_on)

    def _reject(self, record: Record, rejection: Rejection, family: str) -> None:
        self.invalid[(self.topics[family], rejection.reason)] += 1
        if self.keep_rejections:
            self.rejections.append((record, rejection))

    def values(self) -> Iterable[Aggregate]:
        return self.aggregates.values()

    def holdings(self) -> Holdings:
        """The aggregates by kind, found from the aggregates' own lists of their buckets and days
        rather than by sorting the whole table, which a snapshot every minute would do each time
        (thousands of buckets and day records)."""
        table = self.aggregates
        found = Holdings([], [], {}, {}, {"queue": 0, "channel": 0})
        for label, n in table[labels_key(0)]["folded"].items():
            found.folds[label] += n
        for key in self._keys:
            agg = table.get(key)
            if agg is None:
                continue
            if agg.get("kind") == "customers":
                found.customers.append(agg)
                continue
            found.queues.append(agg)
            found.buckets[key] = _Buckets(table, key, agg["bucket_starts"])
            days = agg.get("history_days")
            if days:
                found.history[key] = self._days_of(key, days)
        return found

    def _days_of(self, key: str, days: list[int]) -> list[Aggregate]:
        """An aggregate's day records, oldest first. A day's record stays the same object while
        the day is kept (facts add to it in place), so the list changes only with the days."""
        kept = self._days.get(key)
        if kept is not None and kept[0] == days:
            return kept[1]
        found = (self.aggregates.get(history_key(key, day)) for day in days)
        records = [record for record in found if record is not None]
        self._days[key] = (list(days), records)
        return records

    def _collector_at(self, at: float) -> KpiCollector:
        """The one collector of this replay (it keeps settled window sums), its clock set to ``at``."""
        if self._collector is None:
            settings = self.settings
            self._collector = KpiCollector(
                self.holdings,
                settings.bucket_seconds,
                self.policy,
                clock=lambda: self._snapshot_at,
                windows={w: WINDOWS[w] for w in settings.export_windows},
                window_counts=settings.export_window_counts,
            )
        self._snapshot_at = at
        return self._collector

    def families(self, at: float) -> list[Metric]:
        """The KPI families a scrape at ``at`` would have shown."""
        return list(self._collector_at(at).collect())

    def text(self, at: float) -> str:
        """The ``/metrics`` text a worker holding this state would serve at ``at``."""
        return self._collector_at(at).text()

    def snapshot(self, sink_at: Callable[[float], Sink[F]], at: float) -> None:
        """What a scrape at ``at`` would have shown, into the sink ``sink_at(at)`` gives (a writer's).

        Counters and histograms are handed over only for the aggregates facts reached since the
        previous snapshot: a writer that tracks series takes the others as unchanged."""
        sink = sink_at(at)
        self._collector_at(at).emit(sink, changed=self._touched)
        self._stream_counts(sink)
        self._touched = {}

    def _stream_counts(self, sink: Sink[F]) -> None:
        """The counters a worker keeps of what it read, as a worker reading this history in event
        time would have shown them (the "no events" alert and the pipeline panels read them)."""
        events, invalid, duplicate = (
            declared(sink, WORKER_SERIES[key]) for key in ("events", "events_invalid", "events_duplicate")
        )
        sink.group("stream", complete=False)
        for labels, n in self.events.items():
            sink.sample(events, labels, n)
        for labels, n in self.invalid.items():
            sink.sample(invalid, labels, n)
        for topic, n in self.duplicate.items():
            sink.sample(duplicate, (topic,), n)
        sink.finish()

    @property
    def duplicates(self) -> int:
        return sum(self.duplicate.values())

    @property
    def late(self) -> int:
        return sum(a.get("late", 0) for a in self.aggregates.values() if "totals" in a)


class _Buckets(Sequence[Aggregate]):
    """An aggregate's buckets, oldest first, looked up in the table only as they are read: live
    staffing reads the last quarter of an hour from the newest back, not the whole hour."""

    __slots__ = ("_key", "_starts", "_table")

    def __init__(self, table: dict[str, Aggregate], key: str, starts: list[int]) -> None:
        self._table, self._key, self._starts = table, key, starts

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, index: int) -> Aggregate: ...
    @overload
    def __getitem__(self, index: slice) -> list[Aggregate]: ...
    def __getitem__(self, index: int | slice) -> Aggregate | list[Aggregate]:
        if isinstance(index, slice):
            return [self._table[bucket_key(self._key, start)] for start in self._starts[index]]
        return self._table[bucket_key(self._key, self._starts[index])]

    def __iter__(self) -> Iterator[Aggregate]:
        table, key = self._table, self._key
        return (table[bucket_key(key, start)] for start in self._starts)

    def __reversed__(self) -> Iterator[Aggregate]:
        table, key = self._table, self._key
        return (table[bucket_key(key, start)] for start in reversed(self._starts))


def run(
    replay: Replay,
    records: Iterable[Record],
    step: float,
    on_snapshot: Callable[[float], None] | None = None,
    on_record: Callable[[Record], None] | None = None,
    until: float | None = None,
) -> bool:
    """Feed ``records``, taking a snapshot whenever the stream's clock passes a multiple of ``step``.

    A snapshot at ``T`` is taken before the first event stamped after ``T`` is applied, so it
    holds everything the stream had delivered up to then. ``step`` 0 takes none. With
    ``until``, the feed stops at the first event stamped after it, and the answer is True.
    Every ``FREEZE_EVERY`` records it calls ``gc.freeze()``, for the whole process: meant for a
    process that replays (``cxpulse replay``, a report or a benchmark), whose state is long-lived.
    """
    due: float | None = None
    snapshots = on_snapshot is not None and step > 0
    limit = math.inf if until is None else until
    for number, record in enumerate(records, start=1):
        if not number % FREEZE_EVERY:
            # The state built so far is long-lived and holds no reference cycles: out of the
            # collector's sight, it is not walked again at every collection (a third of a
            # replay's time, late in a long history). Refcounting still frees what it drops.
            gc.freeze()
        event = replay.accept(record)
        if event is not None:
            at = event.at
            if snapshots and replay.clock is not None:
                if due is None:
                    due = (replay.clock // step + 1) * step
                while at > due and due <= limit:
                    on_snapshot(due)  # type: ignore[misc]
                    due += step
            if at > limit:
                return True
            replay.apply(event, record)
        if on_record is not None:
            on_record(record)
    return False
