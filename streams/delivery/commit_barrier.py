"""Make Faust commit an offset only once everything produced before it is delivered.

What cxpulse's exact counts and timely commits depend on, which Faust alone does not give:

*Delivered.* Faust produces table changelog records and ``send_soon`` records through a
buffer and, before committing consumer offsets, flushes that buffer. The flush gives up as
soon as no record has left the buffer for 0.1 s, so under load it can return with records
still queued; the offsets are committed anyway, and a crash at that moment loses those
records (a KPI fact or a changelog update) for good, because Kafka will not redeliver the
committed events. Here the commit waits for the delivery of every record buffered before it,
and for the record batches the agents hand aiokafka directly (:mod:`streams.live.direct_send`,
through :func:`also_wait_for`). A record Kafka refused stops the commit with
:class:`DeliveryFailed` and the worker with it: Faust only logged such a failure and committed.

*Steady.* Faust keeps the offsets its streams acknowledged and commits the first run of
consecutive ones. Its gap marks can repeat an offset that is acknowledged too; each repeat
ends a run early, and a partition read again after a rebalance would then commit only a
step or two per commit interval. Repeats are dropped before the run is taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer
from faust.types import TP

_INSTALLED = False
# What else a commit waits for: records handed to aiokafka past Faust's buffer (DirectSend).
_ALSO: list[Callable[[], Awaitable[None]]] = []


class DeliveryFailed(Exception):
    """Records produced before a commit did not reach Kafka: the commit must not happen."""


def also_wait_for(delivered: Callable[[], Awaitable[None]]) -> None:
    """Make every commit also await ``delivered``, which raises if its records did not reach Kafka."""
    _ALSO.append(delivered)


def install() -> None:
    """Patch Faust's producer buffer and consumer once per process."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    _wait_for_delivery()
    _commit_runs_despite_repeated_acks()


def _wait_for_delivery() -> None:
    original_put = ProducerBuffer.put

    def put(self: Any, fut: asyncio.Future) -> None:
        unsent: set[asyncio.Future] = self.__dict__.setdefault("_cxpulse_unsent", set())
        unsent.add(fut)
        fut.add_done_callback(unsent.discard)
        original_put(self, fut)

    async def flush(self: Any) -> None:
        unsent = list(self.__dict__.get("_cxpulse_unsent", ()))
        if unsent:
            done, _ = await asyncio.wait(unsent)
            failed = [f for f in done if not f.cancelled() and f.exception() is not None]
            if failed:
                raise DeliveryFailed(
                    f"{len(failed)} buffered records did not reach Kafka ({failed[0].exception()!r}): "
                    "the offsets behind them are not committed; the worker stops so that a restart "
                    "reads those events again"
                )
        for delivered in _ALSO:
            await delivered()

    ProducerBuffer.put = put  # type: ignore[method-assign]
    ProducerBuffer.flush = flush  # type: ignore[method-assign]


def _commit_runs_despite_repeated_acks() -> None:
    original_new_offset = Consumer._new_offset

    def _new_offset(self: Any, tp: TP) -> int | None:
        # Faust's gap marks include the record fetched after the gap, which is acknowledged
        # too: the repeat would end each run of offsets early, and a partition read again
        # after a rebalance would then commit a step or two per interval.
        acked = self._acked[tp]
        if acked:
            unique = set(acked)
            if len(unique) != len(acked):
                acked[:] = sorted(unique)
        return original_new_offset(self, tp)

    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
