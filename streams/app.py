"""The Faust application: topics, tables and agents, wired to the Prometheus export.

Stages, each keyed so that its state lives on exactly one worker:

1. *Entity agents* consume ``tickets``, ``calls``, ``surveys`` and ``customers`` (keyed by
   the entity id) in batches. Each event reads and updates its entity's state, and yields
   KPI facts for its queue and, for a contact with a customer id, a contact for the
   customer. Per batch, each touched state is written once, and the facts of each queue and
   source partition travel as one message on the internal fact topic (keyed
   ``queue|channel``); contacts go to the internal contact topic (keyed by customer).
2. A *customer agent* consumes the contact topic next to the ``customers`` topic (same
   keys, same partitions) for repeat contacts and conversions.
3. The *aggregation agent* consumes the fact topic, so all facts of one queue and channel
   meet in one partition. Per batch, it writes each touched event-time bucket, then each
   touched queue aggregate (totals, histograms, backlog, watermarks), once.

The worker serves ``/metrics`` from the aggregates of the fact partitions it owns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from mode.utils.times import want_seconds
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from metrics.aggregate import (
    Aggregate,
    admit_labels,
    apply_facts,
    new_aggregate,
    new_customer_base,
    new_label_record,
)
from metrics.contract.events import CALLS, CUSTOMERS, SURVEYS, TICKETS, Family
from metrics.contract.validation import Rejection, validate
from metrics.engine import Step, contact_hop, entity_step, process_entity
from metrics.export import KpiCollector, WorkerMetrics
from streams import delivery, web_config
from streams.batched_table import BatchedTable
from streams.delivery import Acting
from streams.health import Health, watch_startup
from streams.processing import Outbox
from streams.rejection_log import RejectionLog
from streams.settings import Settings
from streams.state_expiry import expiry_by_family
from streams.topics import TopicSpec

_MEDIA_TYPE = CONTENT_TYPE_LATEST.split("; charset")[0]
log = logging.getLogger("cxpulse.worker")

# How often the consumer refreshes its metadata even when nothing seems to have changed
# (Kafka's default: 5 minutes). A topic the group's assignment left out because a broker did
# not know it yet comes back into the assignment at the next refresh.
METADATA_MAX_AGE_MS = 30_000

# RocksDB per table partition. Faust's defaults (a 2 GB block cache and up to 3 × 64 MB of
# memtables for each of them, 20 of them here) would let a worker's memory grow to many GB;
# these keep the whole store within a few hundred MB however many tickets are open.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 2**20,
    "max_write_buffer_number": 2,
    "block_cache_size": 8 * 2**20,
    "block_cache_compressed_size": 2 * 2**20,
}


@dataclass
class Pipeline:
    """A built worker: the Faust app plus what tests and the CLI need to reach."""

    app: faust.App
    settings: Settings
    metrics: WorkerMetrics
    facts_topic_name: str
    aggregates: Any  # faust Table: 'queue|channel' -> aggregate, 'queue|channel|start' -> bucket
    deadletter_topic: Any = None
    seen_assignment: bool = False
    broker_up: bool | None = None  # whether a bootstrap server accepted a connection at the last check

    def topic_specs(self) -> list[TopicSpec]:
        """Every topic this worker reads or writes, as Faust would create it.

        Created before the worker joins its group (see :mod:`streams.topics`): the sources, the
        internal fact and contact topics, the dead-letter topic, the tables' changelogs and
        Faust's leader-election topic.
        """
        conf = self.app.conf
        channels = [agent.channel for agent in self.app.agents.values()]
        channels += [self.deadletter_topic] + [t.changelog_topic for t in self.app.tables.values()]
        channels.append(self.app.topic(f"{conf.id}-__assignor-__leader", partitions=1, internal=True))
        specs: dict[str, TopicSpec] = {}
        for channel in channels:
            config: dict[str, str] = {str(k): str(v) for k, v in (channel.config or {}).items()}
            flags = (("compact", channel.compacting), ("delete", channel.deleting))
            cleanup = [flag for flag, on in flags if on]
            if cleanup:
                config["cleanup.policy"] = ",".join(sorted(cleanup))
            if channel.retention:
                config["retention.ms"] = str(int(want_seconds(channel.retention) * 1000))
            for name in channel.topics:
                specs[name] = TopicSpec(
                    name,
                    channel.partitions or conf.topic_partitions,
                    channel.replicas or conf.topic_replication_factor,
                    config,
                )
        return list(specs.values())

    def watch_startup(self) -> None:
        """End the process, saying why, if the worker is not in its group with all its topics in time."""
        timeout = self.settings.startup_timeout_seconds

        def give_up(health: Health) -> None:
            log.error(
                "worker not in its consumer group with all its topics after %.0f s "
                "(CXPULSE_STARTUP_TIMEOUT_SECONDS): %s; exiting so that it is started again",
                timeout, health.reason(),
            )  # fmt: skip
            logging.shutdown()
            os._exit(1)

        watch_startup(self.health, timeout, give_up)

    def health(self) -> Health:
        """How the worker stands now (see :mod:`streams.health`)."""
        return Health(
            assigned=self.seen_assignment and not self.app.rebalancing,
            recovering=bool(getattr(self.app, "in_recovery", False)),
            broker_up=self.broker_up,
            missing_topics=_missing_topics(self.app),
        )

    def owned_aggregates(self) -> Iterable[Aggregate]:
        """Aggregates and buckets of the fact partitions this worker owns now; nothing while recovering."""
        if self.app.rebalancing or getattr(self.app, "in_recovery", False):
            self.metrics.assigned.set(0)
            return []
        active = {
            tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.facts_topic_name
        }
        self.metrics.assigned.set(len(active))
        return [agg for agg in self.aggregates.values() if agg["partition"] in active]


class _App(faust.App):
    """Faust's app serving only the pages cxpulse adds: /metrics, /live and /ready.

    Faust's built-in views would show table contents (customers' contact histories, agent ids)
    and the group's hosts to anyone who can reach the port Prometheus scrapes.
    """

    def _new_web(self) -> Any:
        from faust.web.base import BlueprintManager

        web = super()._new_web()
        web.blueprints = BlueprintManager([])
        return web


def _web_protection(path: str | None) -> dict[str, Any]:
    """Faust's web settings for TLS and basic auth from a web-config file (none without one)."""
    if not path:
        return {}
    config = web_config.load(path)
    options: dict[str, Any] = {"web_ssl_context": config.ssl_context}
    if config.users:
        options["web_application_options"] = {"middlewares": [web_config.middleware(config)]}
    return options


def _missing_topics(app: faust.App) -> tuple[str, ...]:
    """Topics the consumer subscribes to that its cluster metadata does not list."""
    consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
    if consumer is None:
        return ()
    try:  # the consumer lives on its own thread: read a copy, and give up if it moved meanwhile
        subscribed = set(consumer.subscription())
        known = set(consumer._client.cluster.topics())
    except RuntimeError:
        return ()
    return tuple(sorted(subscribed - known))


def build_app(settings: Settings) -> Pipeline:
    # Faust warns each time its producer buffer holds over 100 records: normal backpressure
    # while catching up, and thousands of lines a minute. Errors still show.
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    producer_batch = {"producer_max_batch_size": 1} if settings.one_record_per_batch else {}
    access = settings.kafka()
    web_protection = _web_protection(settings.web_config_file)
    app = _App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=access.faust_credentials(),
        consumer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
        consumer_group_instance_id=settings.group_instance_id or None,
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=0,
        web_enabled=True,
        **web_protection,
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
    deadletter = app.topic(
        settings.deadletter_topic,
        partitions=settings.partitions,
        internal=True,
        retention=settings.deadletter_retention_days * 86400,
        **raw,
    )
    # Keys are str and values plain dicts; both go to the changelogs as JSON.
    store_options = {"options": ROCKSDB_OPTIONS} if settings.store.startswith("rocksdb") else {}
    ticket_state = app.Table("ticket-state", partitions=settings.partitions, **store_options)
    call_state = app.Table("call-state", partitions=settings.partitions, **store_options)
    survey_state = app.Table("survey-state", partitions=settings.partitions, **store_options)
    customer_state = app.Table("customer-state", partitions=settings.partitions, **store_options)
    aggregates = app.Table("queue-kpis", partitions=settings.partitions, **store_options)

    contacts_topic = app.topic(
        f"{settings.app_id}-customer-contacts", partitions=settings.partitions, internal=True, **raw
    )
    outputs_to = {"facts": facts_topic, "contacts": contacts_topic}

    metrics = WorkerMetrics()
    pipeline = Pipeline(app, settings, metrics, facts_topic_name, aggregates, deadletter)
    policy = settings.policy()
    metrics.add_kpis(KpiCollector(pipeline.owned_aggregates, settings.bucket_seconds, policy))

    log_rejection = RejectionLog()
    pseudonyms = settings.pseudonyms()

    def park(rejection: Rejection, message: Any, raw_value: bytes | None, family: Family) -> None:
        metrics.invalid.labels(message.topic, rejection.reason).inc()
        origin = f"{message.topic}:{message.partition}:{message.offset}"
        key_bytes, detail = message.key, rejection.detail
        if pseudonyms is None:
            key = None if key_bytes is None else key_bytes.decode("utf-8", "replace")
            value = None if raw_value is None else raw_value.decode("utf-8", "replace")
        else:
            personal_key = family.entity_field == "customer_id"
            key, value, detail = pseudonyms.parked(key_bytes, raw_value, detail, personal_key)
            key_bytes = None if key is None else key.encode()
        log_rejection(message.topic, rejection.reason, detail, origin, settings.deadletter_topic)
        record = {
            "reason": rejection.reason,
            "detail": detail,
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": key,
            "value": value,
        }
        deadletter.send_soon(key=key_bytes, value=orjson.dumps(record))

    # Each table is written through a batch view: one changelog record per key and batch.
    tickets_t, calls_t, surveys_t, customers_t = (
        BatchedTable(t) for t in (ticket_state, call_state, survey_state, customer_state)
    )
    # A bucket goes to the changelog before its aggregate: if the aggregate's write survived
    # a crash, the bucket's did too.
    aggregates_t = BatchedTable(aggregates, first=lambda value: "start" in value)
    expiry = expiry_by_family(
        {"tickets": tickets_t, "calls": calls_t, "surveys": surveys_t, "customers": customers_t},
        settings.state_retention_days,
        settings.call_state_retention_days,
    )
    batch_size, batch_wait = settings.batch_size, settings.batch_wait_seconds
    guarantees = delivery.install(app, on_refused=lambda topic: metrics.out_of_order.labels(topic).inc())
    admit = guarantees.admit

    def send(outbox: Outbox) -> None:
        for target, key, message in outbox.messages():
            outputs_to[target].send_soon(key=key.encode(), value=orjson.dumps(message))

    def handle(
        table: BatchedTable,
        entity_id: str,
        event_id: str,
        message: Any,
        step: Step,
        family: str,
        event_time: float,
        outbox: Outbox,
    ) -> None:
        """Run one entity step exactly once and queue what it produced.

        What a step sends is kept in the entity's ledger, so a record redelivered after a
        crash sends the very same payloads again and the receivers can drop them.
        """
        # Kafka will not redeliver records before this offset: their ledger entries can shrink.
        committed = guarantees.committed(message.tp)
        source = f"{message.topic}:{message.partition}"
        status, sent = process_entity(
            table, entity_id, event_id, step, source, message.offset, event_time, committed
        )
        if status == "duplicate":
            metrics.duplicates.labels(message.topic).inc()
            return
        if status == "new":
            metrics.expired.inc(expiry[family].tick(message.partition))
        outbox.add(sent)

    def entity_agent(family: Family, table: BatchedTable) -> Callable[[Any], Any]:
        limits = settings.limits()
        observe_delay = metrics.delay.observe

        async def process(stream: Any) -> None:
            async for batch in stream.take_events(batch_size, within=batch_wait):
                outbox = Outbox()
                now = time.time()
                acting = Acting(stream)
                for record in batch:
                    message = record.message
                    if not admit(message):
                        continue
                    acting(record)
                    result = validate(record.value, message.key, family, limits, now)
                    if isinstance(result, Rejection):
                        park(result, message, record.value, family)
                        continue
                    event: Any = result if pseudonyms is None else pseudonyms.event(result)
                    metrics.count_event(message.topic, event.type)
                    at = event.occurred_at.timestamp()
                    observe_delay(now - at)
                    entity_id: str = getattr(event, family.entity_field)
                    run = entity_step(family.name, event, policy, f"{message.topic}:{message.partition}")
                    handle(table, entity_id, event.event_id, message, run, family.name, at, outbox)
                table.flush(acting.partition)
                send(outbox)

        process.__name__ = f"{family.name}_entities"
        return process

    sources = [
        (settings.tickets_topic, TICKETS, tickets_t),
        (settings.calls_topic, CALLS, calls_t),
        (settings.surveys_topic, SURVEYS, surveys_t),
        (settings.customers_topic, CUSTOMERS, customers_t),
    ]
    for topic_name, family, table in sources:
        topic = app.topic(topic_name, **raw)
        app.agent(topic, name=f"{family.name}-entities")(entity_agent(family, table))

    async def customer_contacts(stream: Any) -> None:
        async for batch in stream.take_events(batch_size, within=batch_wait):
            outbox = Outbox()
            acting = Acting(stream)
            for record in batch:
                if not admit(record.message):
                    continue
                acting(record)
                contact = orjson.loads(record.value)
                # Contacts of one ticket or call partition stay in order only within one contact
                # partition: the pair is the clock their facts' lateness is judged by.
                contact["clock"] = f"{contact['clock']}>{record.message.partition}"
                event_id, step = contact_hop(contact, policy)
                key = record.message.key.decode()
                handle(customers_t, key, event_id, record.message, step, "customers", contact["at"], outbox)
            customers_t.flush(acting.partition)
            send(outbox)

    app.agent(contacts_topic, name="customer-contacts")(customer_contacts)

    bucket_seconds, grace_seconds = settings.bucket_seconds, settings.grace_seconds
    count_fact_message = metrics.fact_messages.inc

    label_cap = max(1, -(-settings.max_label_values // settings.partitions))

    def fold(payload: dict[str, Any], partition: int, outbox: Outbox) -> bool:
        """Admit a new queue or channel value, or send its facts on under ``other``; True if sent on."""
        labels_key = f"~labels|{partition}"
        record = aggregates_t.get(labels_key) or new_label_record(partition)
        queue, channel, changed = admit_labels(record, payload["queue"], payload["channel"], label_cap)
        if changed:
            aggregates_t[labels_key] = record
        if (queue, channel) == (payload["queue"], payload["channel"]):
            return False
        # Facts reach the folded aggregate through this partition: ordered per path, like contacts.
        path = f">{partition}"
        source = payload["source"]
        for offset, facts in payload["records"]:
            for fact in facts:
                fact[3] = {**fact[3], "clock": fact[3].get("clock", source) + path}
            outbox.add(
                [["facts", f"{queue}|{channel}", {"queue": queue, "channel": channel,
                                                  "source": source + path, "offset": offset, "facts": facts}]]
            )  # fmt: skip
        return True

    async def aggregate_facts(stream: Any) -> None:
        async for batch in stream.take_events(batch_size, within=batch_wait):
            folded = Outbox()
            acting = Acting(stream)
            for record in batch:
                message = record.message
                if not admit(message):
                    continue
                acting(record)
                payload = orjson.loads(record.value)
                key = message.key.decode()
                agg = aggregates_t.get(key)
                if agg is None:
                    if payload.get("kind") == "customers":
                        agg = new_customer_base(message.partition)
                    elif fold(payload, message.partition, folded):
                        continue
                    else:
                        agg = new_aggregate(payload["queue"], payload["channel"], message.partition)
                source, applied = payload["source"], 0
                for offset, facts in payload["records"]:
                    applied += apply_facts(
                        agg, facts, source, offset, bucket_seconds, grace_seconds, aggregates_t
                    )
                if applied:
                    aggregates_t[key] = agg
                    count_fact_message(applied)
            aggregates_t.flush(acting.partition)
            send(folded)

    app.agent(facts_topic, name="queue-aggregation")(aggregate_facts)

    servers = [s.rsplit(":", 1) for s in access.servers]

    @app.timer(interval=2.0)
    async def check_broker() -> None:
        """Whether a bootstrap server accepts connections; /metrics shows an outage as it happens."""
        for host, port in servers:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout=1.0)
            except (OSError, TimeoutError):
                continue
            writer.close()
            pipeline.broker_up = True
            return
        pipeline.broker_up = False

    @app.on_rebalance_complete.connect
    async def count_rebalance(sender: Any, **kwargs: Any) -> None:
        metrics.rebalances.inc()

    @app.on_partitions_assigned.connect
    async def note_assignment(sender: Any, *args: Any, **kwargs: Any) -> None:
        pipeline.seen_assignment = True

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        metrics.broker_up.set(1 if pipeline.broker_up else 0)
        metrics.ready.set(1 if pipeline.health().ready else 0)
        # aiohttp takes the charset separately from the media type.
        return web.bytes(generate_latest(metrics.registry), content_type=_MEDIA_TYPE)

    @app.page("/live")
    async def live_page(web: Any, request: Any) -> Any:
        """The event loop answers: the process is not wedged."""
        return web.text("live\n")

    @app.page("/ready")
    async def ready_page(web: Any, request: Any) -> Any:
        """200 when the worker does its share of the work; 503 with the reason otherwise."""
        health = pipeline.health()
        return web.text(health.reason() + "\n", status=200 if health.ready else 503)

    return pipeline
