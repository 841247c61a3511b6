"""How long a fetch may wait at the broker for new records: Faust fixes it at 1.5 s; cxpulse sets it.

aiokafka sends one fetch request at a time to a broker, for the partitions that have no fetched
records waiting to be handed out. If a request goes out while the busy partitions still hold
records, it names only quiet ones (an internal topic between batches, a family without traffic)
and the broker holds it until one of those gets data or the wait ends; the busy partitions'
next records are not fetched until it returns. So the wait bounds how stale a record can be when
handed to the agents, at each of the two hops (source, then facts), whatever the load; an idle
worker pays with a few more fetch requests a second. The stall as measured under load is in
docs/performance.md.
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
