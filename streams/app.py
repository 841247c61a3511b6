"""The Faust application: topics, tables and agents, wired to the Prometheus export.

Two stages, each keyed so that its state lives on exactly one worker:

1. *Entity agents* consume ``tickets`` and ``calls`` (keyed by ticket / call id). Each
   event costs one read and one write of the entity's state, and yields at most one
   message of KPI facts on the internal fact topic, keyed by ``queue|channel``.
2. The *aggregation agent* consumes that fact topic, so all facts of one queue and
   channel meet in one partition, and keeps each queue's aggregate (totals, histograms,
   event-time buckets) as one table value: one write per fact message.

The worker serves ``/metrics`` from the aggregates of the fact partitions it owns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from metrics.aggregate import Aggregate, apply_facts, new_aggregate
from metrics.entities import Fact, State, call_step, remember, seen_before, ticket_step
from metrics.export import KpiCollector, WorkerMetrics
from streams import commit_barrier
from streams.events import CALLS, TICKETS, Event, Family
from streams.settings import Settings
from streams.validation import Rejection, validate

log = logging.getLogger("cxpulse.worker")

_MEDIA_TYPE = CONTENT_TYPE_LATEST.split("; charset")[0]

Step = Callable[[State | None, Any], tuple[State, list[Fact]]]


@dataclass
class Pipeline:
    """A built worker: the Faust app plus what tests and the CLI need to reach."""

    app: faust.App
    settings: Settings
    metrics: WorkerMetrics
    facts_topic_name: str
    aggregates: Any  # faust Table of 'queue|channel' -> Aggregate

    def owned_aggregates(self) -> Iterable[Aggregate]:
        """Aggregates of the fact partitions this worker owns now; nothing while recovering."""
        if self.app.rebalancing or getattr(self.app, "in_recovery", False):
            self.metrics.assigned.set(0)
            return []
        active = {
            tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.facts_topic_name
        }
        self.metrics.assigned.set(len(active))
        return [agg for agg in self.aggregates.values() if agg["partition"] in active]


def build_app(settings: Settings) -> Pipeline:
    commit_barrier.install()
    producer_batch = {"producer_max_batch_size": 1} if settings.one_record_per_batch else {}
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=0,
        web_enabled=True,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        **producer_batch,
    )
    facts_topic_name = f"{settings.app_id}-kpi-facts"
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    facts_topic = app.topic(facts_topic_name, partitions=settings.partitions, internal=True, **raw)
    deadletter = app.topic(settings.deadletter_topic, partitions=settings.partitions, internal=True, **raw)
    # Keys are str and values plain dicts; both go to the changelogs as JSON.
    ticket_state = app.Table("ticket-state", partitions=settings.partitions)
    call_state = app.Table("call-state", partitions=settings.partitions)
    aggregates = app.Table("queue-kpis", partitions=settings.partitions)

    metrics = WorkerMetrics()
    pipeline = Pipeline(app, settings, metrics, facts_topic_name, aggregates)
    metrics.add_kpis(KpiCollector(pipeline.owned_aggregates, settings.bucket_seconds))

    def park(rejection: Rejection, message: Any, raw_value: bytes | None) -> None:
        metrics.invalid.labels(message.topic, rejection.reason).inc()
        record = {
            "reason": rejection.reason,
            "detail": rejection.detail,
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": None if message.key is None else message.key.decode("utf-8", "replace"),
            "value": None if raw_value is None else raw_value.decode("utf-8", "replace"),
        }
        deadletter.send_soon(key=message.key, value=orjson.dumps(record))

    def entity_agent(family: Family, table: Any, step: Step) -> Callable[[Any], Any]:
        max_bytes = settings.max_event_bytes

        async def process(stream: Any) -> None:
            async for record in stream.events():
                message = record.message
                result = validate(record.value, message.key, family, max_bytes)
                if isinstance(result, Rejection):
                    park(result, message, record.value)
                    continue
                event: Event = result
                metrics.count_event(message.topic, event.type)  # type: ignore[attr-defined]
                origin = f"{message.topic}:{message.partition}:{message.offset}"
                entity_id: str = getattr(event, family.entity_field)
                state = table.get(entity_id)
                status, facts = seen_before(state, event.event_id, origin)
                if status == "duplicate":
                    metrics.duplicates.labels(message.topic).inc()
                    continue
                if status == "new":
                    state, facts = step(state, event)
                    remember(state, event.event_id, origin, facts)
                    table[entity_id] = state
                if facts:
                    payload = {
                        "queue": event.queue,
                        "channel": event.channel,
                        "source": f"{message.topic}:{message.partition}",
                        "offset": message.offset,
                        "facts": facts,
                    }
                    facts_topic.send_soon(
                        key=f"{event.queue}|{event.channel}".encode(), value=orjson.dumps(payload)
                    )

        process.__name__ = f"{family.name}_entities"
        return process

    tickets_topic = app.topic(settings.tickets_topic, **raw)
    calls_topic = app.topic(settings.calls_topic, **raw)
    app.agent(tickets_topic, name="ticket-entities")(entity_agent(TICKETS, ticket_state, ticket_step))
    app.agent(calls_topic, name="call-entities")(entity_agent(CALLS, call_state, call_step))

    bucket_seconds, grace_seconds = settings.bucket_seconds, settings.grace_seconds

    async def aggregate_facts(stream: Any) -> None:
        async for record in stream.events():
            message = record.message
            payload = orjson.loads(record.value)
            key = message.key.decode()
            agg = aggregates.get(key)
            if agg is None:
                agg = new_aggregate(payload["queue"], payload["channel"], message.partition)
            if apply_facts(
                agg, payload["facts"], payload["source"], payload["offset"], bucket_seconds, grace_seconds
            ):
                aggregates[key] = agg

    app.agent(facts_topic, name="queue-aggregation")(aggregate_facts)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        # aiohttp takes the charset separately from the media type.
        return web.bytes(generate_latest(metrics.registry), content_type=_MEDIA_TYPE)

    return pipeline
