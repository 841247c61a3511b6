"""The Kafka side of the gateway: a request is answered only once Kafka holds all its events.

One idempotent producer (``acks=all``, ``enable_idempotence``) per gateway: the broker keeps
a retried batch once, and a 2xx reply means every event of the request is on every in-sync
replica. When Kafka cannot take the events in time the request fails with 503 and the sender
retries; events that did reach Kafka meanwhile are sent again, and the worker's ``event_id``
dedupe counts them once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import BrokerResponseError, KafkaError

from streams.cluster.access import KafkaAccess
from streams.ingest.contract_batch import Addressed

log = logging.getLogger("cxpulse.ingest")
T = TypeVar("T")


class Unavailable(Exception):
    """Kafka did not acknowledge the events in time; the sender should retry later."""


class KafkaSink:
    def __init__(
        self, access: KafkaAccess, topics: Mapping[str, str], timeout: float, idempotent: bool = True
    ) -> None:
        self._access = access
        self._idempotent = idempotent
        self._topics = dict(topics)  # family name -> topic
        self._timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **self._access.aiokafka(),
                    acks="all",
                    enable_idempotence=self._idempotent,
                    request_timeout_ms=int(self._timeout * 1000),
                )
                try:
                    await asyncio.wait_for(producer.start(), self._timeout)
                except BrokerResponseError as exc:
                    await _quietly_stop(producer)
                    raise self._refused(exc) from exc
                except BaseException:
                    await _quietly_stop(producer)
                    raise
                self._producer = producer
            return self._producer

    def _refused(self, exc: BrokerResponseError) -> KafkaError:
        """What a broker's answer to the producer's start means, with the setting that changes it.

        The producer's start is its bootstrap (failures of which are connection errors) and,
        when idempotent, an ``InitProducerId`` request: an error code from the broker there
        means the broker or the user's ACLs do not allow idempotent producers.
        """
        if not self._idempotent:
            return exc
        return KafkaError(
            f"the broker refused InitProducerId ({type(exc).__name__}): it does not support idempotent "
            "producers, or the user lacks the IdempotentWrite permission on the cluster; grant it, or set "
            "CXPULSE_INGEST_IDEMPOTENT=false (a retried batch may then be written twice, which the "
            "workers' event_id dedupe absorbs)"
        )

    async def send_patiently(self, events: Sequence[Addressed], stop: asyncio.Event, waiting: str) -> bool:
        """Send ``events``, trying again every 5 s while Kafka is unavailable: a follower of a
        file or a socket has nowhere else to keep them. False if ``stop`` came first (nothing of
        them is then known to be in Kafka); ``waiting`` names what waits, for the log."""
        while True:
            try:
                await self.send(events)
                return True
            except Unavailable as exc:
                log.warning("Kafka unavailable (%s); %s wait, retrying in 5 s", exc, waiting)
                await wait_unless_stopped(stop, 5.0)
                if stop.is_set():
                    return False

    async def send(self, events: Sequence[Addressed]) -> None:
        """Produce every event and wait for Kafka's acknowledgement of all of them."""
        if not events:
            return
        try:
            producer = await self._ready()
            futures = [await producer.send(self._topics[e.family], value=e.value, key=e.key) for e in events]
            await asyncio.wait_for(asyncio.gather(*futures), self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("Kafka did not take %d events: %s", len(events), exc or type(exc).__name__)
            await self._reset()
            raise Unavailable(str(exc) or type(exc).__name__) from exc

    async def _reset(self) -> None:
        """Start a fresh producer at the next request: one whose broker went away can stay stuck."""
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await _quietly_stop(producer)

    async def close(self) -> None:
        await self._reset()

    async def problem(self) -> str | None:
        """None when a producer is up or can be started now; otherwise why not (for /ready)."""
        try:
            await self._ready()
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._reset()
            return str(exc) or type(exc).__name__
        return None


async def _quietly_stop(producer: Any) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 5)
    except Exception:
        log.debug("producer did not stop cleanly", exc_info=True)


async def wait_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """``work``'s result, or None (``work`` cancelled) once ``stop`` is set first.

    Whatever a follower awaits from a peer must give way to a stop signal: a socket that
    accepts and then says nothing would otherwise hold SIGTERM off until it is killed."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None
