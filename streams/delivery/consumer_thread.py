"""Seek and read positions on the consumer's own thread: aiokafka's fetcher is not thread-safe.

Faust runs the aiokafka consumer in a thread of its own and hands most calls to it, but its
``seek`` calls aiokafka directly from the caller's thread. Faust itself seeks only during a
rebalance, while that thread waits; cxpulse also seeks between rebalances (a partition read
again from a refused record, a changelog partition recovery is stranded on). Done from the main
thread, such a seek can remove a partition's fetched records while the consumer thread is
handing them out, and aiokafka's fetcher then fails (``KeyError`` in ``fetched_records``), which
stops the worker. Here the seek runs on the consumer thread, between two fetches, and only for
a partition the consumer still owns then.
"""

from __future__ import annotations

from collections.abc import Iterable

from faust.types import TP, ConsumerT


async def seek(consumer: ConsumerT, tp: TP, offset: int) -> None:
    """Move ``consumer``'s position on ``tp`` to ``offset``, from the thread that owns it."""
    thread = getattr(consumer, "_thread", None)
    call_thread = getattr(thread, "call_thread", None)
    if call_thread is None:  # a consumer without a thread of its own
        await consumer.seek(tp, offset)
        return

    def on_consumer_thread() -> bool:
        client = thread._ensure_consumer()
        if tp not in client.assignment():
            return False  # moved to another worker meanwhile: nothing to read again here
        client.seek(tp, offset)
        return True

    if await call_thread(on_consumer_thread):
        consumer._read_offset[tp] = offset if offset else None  # as Faust's own seek records it


async def positions(consumer: ConsumerT, tps: Iterable[TP]) -> dict[TP, int | None]:
    """The consumer's read position on each of ``tps`` it still owns, read on its own thread."""
    thread = getattr(consumer, "_thread", None)
    call_thread = getattr(thread, "call_thread", None)
    if call_thread is None:
        return {tp: await consumer.position(tp) for tp in tps}

    async def on_consumer_thread() -> dict[TP, int | None]:
        client = thread._ensure_consumer()
        owned = client.assignment()
        return {tp: await client.position(tp) for tp in tps if tp in owned}

    return await call_thread(on_consumer_thread)
