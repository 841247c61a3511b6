"""How long a fetch may wait at the broker for new records: Faust fixes it at 1.5 s; cxpulse sets it.

aiokafka sends one fetch request at a time to a broker, for the partitions that have no fetched
records waiting to be handed out. If a request goes out while the busy partitions still hold
records, it names only quiet ones (an internal topic between batches, a family without traffic)
and the broker holds it until one of those gets data or the wait ends. The busy partitions'
next records are not fetched until it returns. With Faust's 1.5 s, a worker at a steady 1 000
events/s fell into that cycle and stayed there for tens of seconds: records 1.5–2 s old when
handed to the agents, at each of the two hops (source, then facts), while its CPU was a third
used. A short wait bounds that stall; an idle worker then sends a few more fetch requests a
second, which costs the broker next to nothing.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_wait_ms: int | None = None  # the process's setting; None until installed


def install(seconds: float) -> None:
    """Make every worker consumer Faust creates from now on wait at most ``seconds`` per fetch."""
    global _wait_ms
    patched = _wait_ms is not None
    _wait_ms = int(seconds * 1000)
    if patched:
        return
    create = AIOKafkaConsumerThread._create_worker_consumer

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = _wait_ms  # read by the fetcher aiokafka builds on start
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer
