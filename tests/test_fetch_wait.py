"""The worker consumer fetches with cxpulse's wait, not Faust's 1.5 s; the patched releases are checked."""

from __future__ import annotations

import asyncio

from kafka_server import KafkaServer

from streams.delivery.versions import mismatches
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


def test_other_faust_or_aiokafka_releases_are_named_with_what_to_do():
    assert mismatches({"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}) == []
    found = mismatches({"faust-streaming": "0.16.0", "aiokafka": "0.14.1"})
    assert len(found) == 1
    assert found[0].startswith("faust-streaming 0.16.0 is installed; cxpulse's delivery guarantees patch")
    assert "make test" in found[0] and "make install" in found[0]
    assert mismatches({"aiokafka": "0.14.0"})[0].startswith("faust-streaming none is installed")


def test_the_installed_releases_are_those_the_guarantees_were_written_for():
    assert mismatches() == []
