"""Make Faust's offset commit wait for every buffered record to reach Kafka.

Faust produces table changelog records and ``send_soon`` records through a buffer and,
before committing consumer offsets, flushes that buffer. The flush gives up as soon as
no record has left the buffer for 0.1 s, so under load it can return with records
still queued; the offsets are committed anyway, and a crash at that moment loses
those records (a KPI fact or a changelog update) for good, because Kafka will not
redeliver the committed events. cxpulse counts exactly, so its commit waits for the
delivery of every record buffered before the commit began.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust.transport.producer import ProducerBuffer

log = logging.getLogger("cxpulse.commit")

_INSTALLED = False


def install() -> None:
    """Patch :class:`ProducerBuffer` once per process."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
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
