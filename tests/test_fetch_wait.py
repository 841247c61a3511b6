"""The worker's consumer fetches with cxpulse's wait, not Faust's fixed 1.5 s."""

from __future__ import annotations

import asyncio

from kafka_server import KafkaServer

from streams.live.app import build_app
from streams.settings import Settings


def test_the_worker_consumer_started_by_faust_fetches_with_the_configured_wait(kafka: KafkaServer):
    app = build_app(Settings(broker=kafka.url, fetch_max_wait_seconds=0.25)).app

    async def fetch_wait_ms() -> int:
        consumer = app.consumer._thread._create_worker_consumer(app.transport)  # as Faust's thread does
        await consumer.start()
        try:
            return consumer._fetcher._fetch_max_wait_ms
        finally:
            await consumer.stop()

    assert asyncio.run(fetch_wait_ms()) == 250
