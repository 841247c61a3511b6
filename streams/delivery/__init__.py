"""Delivery guarantees of the live worker: every event counted exactly once, whatever Faust does.

Each module corrects one Faust behaviour (docs/architecture.md narrates the protocol step by step):

- ``in_order``: agents take each partition's records in offset order, without holes, and only of
  partitions this worker owns; a record past a missing one is refused and the partition read again;
- ``commit_barrier``: an offset is committed only once everything produced before it is delivered;
- ``confirmed_commits``: the offsets Kafka accepted, below which entity ledgers may drop payloads;
- ``recovery_watchdog``: changelog records recovery waits for but the consumer read past are read again;
- ``current_event``: each event of a batch is made the stream's current event in turn;
- ``consumer_thread``: the seeks cxpulse adds run on the consumer's own thread (aiokafka's
  fetcher is not thread-safe; Faust seeks from the calling thread);
- ``fetch_wait``: a fetch waits at the broker as long as the worker's setting, not Faust's 1.5 s.

Every class of Faust or aiokafka that cxpulse changes is changed here, and only by
:func:`install`: Faust's aiokafka ``Consumer.seek_to_committed`` and its base
``Consumer.perform_seek`` (in_order), ``ProducerBuffer.put``/``flush`` and
``Consumer._new_offset`` (commit_barrier), ``AIOKafkaConsumerThread._create_worker_consumer``
(fetch_wait). They were
written for the releases in :mod:`streams.delivery.versions`; :func:`install` logs a warning at
start-up when others are installed. This package imports Faust and nothing of cxpulse's KPI
code; the app (``streams.live.app``) imports it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

from faust.types import TP, AppT, EventT, Message

from streams.delivery import commit_barrier, fetch_wait, in_order, recovery_watchdog, versions
from streams.delivery.confirmed_commits import ConfirmedCommits
from streams.delivery.current_event import Acting

__all__ = ["Acting", "Delivery", "install"]


@dataclass
class Delivery:
    """What the agents ask of the guarantees: whether a record is due, and committed offsets."""

    app: AppT
    order: in_order.InOrder
    confirmed: ConfirmedCommits
    on_refused: Callable[[str], None]  # called with the topic of each record refused

    def admit(self, message: Message) -> bool:
        """Whether ``message`` is its partition's next record; if not it is read again later."""
        if self.order.admit(message.tp, message.offset, moving=self.app.rebalancing):
            return True
        message.acked = True  # Faust must neither count it as done nor wait for it
        self.app.consumer._unacked_messages.discard(message)
        self.on_refused(message.topic)
        return False

    def due(self, batch: Iterable[EventT]) -> Iterator[EventT]:
        """The events of ``batch`` whose records are due (:meth:`admit`), each record once.

        A seek back while a partition's records are in flight (a rebalance's, or one of
        :mod:`in_order`'s) can put one record in a batch twice: once new and once more, just
        after, as what looks like a replay. Handled twice, its outputs would be merged as two
        parts of one record and counted twice downstream; so a record is taken once per batch.
        Each agent reads one topic, so partition and offset name a record.
        """
        admit = self.admit
        taken: set[tuple[int, int]] = set()
        for event in batch:
            message = event.message
            if not admit(message):
                continue
            place = (message.partition, message.offset)
            if place in taken:
                continue
            taken.add(place)
            yield event

    def committed(self, tp: TP) -> int | None:
        """The offset Kafka confirmed as committed for ``tp`` on this worker, if any."""
        return self.confirmed.get(tp)


log = logging.getLogger(__name__)


def install(
    app: AppT,
    on_refused: Callable[[str], None],
    delivered: Callable[[], Awaitable[None]] | None = None,
    fetch_wait_seconds: float | None = None,
) -> Delivery:
    """Put every guarantee in place for ``app``, before it starts.

    ``delivered`` waits for records produced past Faust's buffer and raises if Kafka refused
    any; every commit awaits it first. ``fetch_wait_seconds`` bounds how long a fetch waits at
    the broker (Faust's 1.5 s when None).
    """
    for line in versions.mismatches():
        log.warning(line)
    if fetch_wait_seconds is not None:
        fetch_wait.install(fetch_wait_seconds)
    commit_barrier.install()
    if delivered is not None:
        commit_barrier.also_wait_for(delivered)
    confirmed = ConfirmedCommits().follow(app.tables)
    order = in_order.InOrder()
    in_order.install(app.consumer, order.start_at)

    @app.timer(interval=1.0)
    async def read_again() -> None:
        """Seek partitions whose next record was set aside back to it (rebalances seek themselves)."""
        if not app.rebalancing:
            await in_order.send_back(order, app.consumer)

    @app.timer(interval=5.0)
    async def unstick_recovery() -> None:
        """Read again changelog records recovery waits for but the consumer already passed."""
        await recovery_watchdog.check(app.tables.recovery, app.consumer, time.monotonic())

    return Delivery(app, order, confirmed, on_refused)
