"""The Faust application of the live worker: its topics and tables, with the agents and pages put in.

:func:`build_app` makes the app from settings; the agents (:mod:`streams.live.agents`) are
thin drivers of the KPI engine, the pages (:mod:`streams.live.pages`) serve ``/metrics`` from
the aggregates of the fact partitions this worker owns, and the delivery guarantees
(:mod:`streams.delivery`) are installed over Faust's consumer and producer.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from metrics.aggregates.queue import written_before_aggregate
from metrics.contract.events import FAMILIES
from metrics.definitions import WINDOWS
from metrics.documents import JsonObject
from metrics.export.collector import KpiCollector
from metrics.export.worker import WorkerMetrics
from streams import delivery, web_config
from streams.live.agents import Agents, Wiring
from streams.live.batched_table import BatchedTable
from streams.live.dead_letters import DeadLetters
from streams.live.direct_send import DirectSend
from streams.live.pages import install_pages
from streams.live.pipeline import Pipeline
from streams.settings import Settings

# How often the consumer refreshes its metadata even when nothing seems to have changed
# (Kafka's default: 5 minutes). A topic the group's assignment left out because a broker did
# not know it yet comes back into the assignment at the next refresh.
METADATA_MAX_AGE_MS = 30_000

# Largest record batch the producer builds: 256 KB, a quarter of Kafka's default message limit.
PRODUCER_BATCH_BYTES = 256 * 1024

# RocksDB per table partition. Faust's defaults (a 2 GB block cache and up to 3 × 64 MB of
# memtables for each of them, 20 of them here) would let a worker's memory grow to many GB;
# these keep the whole store within a few hundred MB however many tickets are open.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 2**20,
    "max_write_buffer_number": 2,
    "block_cache_size": 8 * 2**20,
    "block_cache_compressed_size": 2 * 2**20,
}


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


def _web_protection(path: str | None) -> JsonObject:
    """Faust's web settings for TLS and basic auth from a web-config file (none without one)."""
    if not path:
        return {}
    config = web_config.load(path)
    options: JsonObject = {"web_ssl_context": config.ssl_context}
    if config.users:
        options["web_application_options"] = {"middlewares": [web_config.middleware(config)]}
    return options


def build_app(settings: Settings) -> Pipeline:
    """The worker for these settings: app, topics and tables, with agents, pages and guarantees in place."""
    # Faust warns each time its producer buffer holds over 100 records: normal backpressure
    # while catching up, and thousands of lines a minute. Errors still show.
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    # A batch's changelog records for one partition fill one record batch (DirectSend), and a
    # partition has one batch in flight at a time: aiokafka's 16 KB would cost a round trip
    # every ~30 states under catch-up.
    batch_bytes = 1 if settings.one_record_per_batch else PRODUCER_BATCH_BYTES
    producer_batch = {"producer_max_batch_size": batch_bytes}
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
        producer_linger=settings.producer_linger_seconds,
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
    # Keys are str and go to the changelogs as JSON. Entity states are kept as their JSON text
    # (bytes: see BatchedTable), aggregates as plain dicts that Faust writes as JSON.
    store_options = {"options": ROCKSDB_OPTIONS} if settings.store.startswith("rocksdb") else {}
    entity_tables = {
        family: app.Table(
            f"{family.removesuffix('s')}-state",
            partitions=settings.partitions,
            value_type=bytes,
            **store_options,
        )
        for family in FAMILIES
    }
    aggregates = app.Table("queue-kpis", partitions=settings.partitions, **store_options)

    contacts_topic = app.topic(
        f"{settings.app_id}-customer-contacts", partitions=settings.partitions, internal=True, **raw
    )
    agent_work_topic = app.topic(
        f"{settings.app_id}-agent-work", partitions=settings.partitions, internal=True, **raw
    )

    policy = settings.policy()
    metrics = WorkerMetrics()
    pipeline = Pipeline(app, settings, metrics, facts_topic_name, aggregates, deadletter)
    metrics.add_kpis(
        KpiCollector(
            pipeline.owned_aggregates,
            settings.bucket_seconds,
            policy,
            windows={w: WINDOWS[w] for w in settings.export_windows},
            window_counts=settings.export_window_counts,
        )
    )

    # Each table is written through a batch view: one changelog record per key and batch.
    # A bucket goes to the changelog before its aggregate: if the aggregate's write survived
    # a crash, the bucket's did too.
    direct = DirectSend(lambda: app.producer._ensure_producer())  # faust's started aiokafka producer
    wiring = Wiring(
        sources={family: app.topic(name, **raw) for family, name in settings.source_topics().items()},
        facts=facts_topic,
        contacts=contacts_topic,
        agent_work=agent_work_topic,
        entities={
            name: BatchedTable(table, direct.changelog(table), encoded=True)
            for name, table in entity_tables.items()
        },
        aggregates=BatchedTable(aggregates, direct.changelog(aggregates), first=written_before_aggregate),
        direct=direct,
    )
    guarantees = delivery.install(
        app,
        on_refused=lambda topic: metrics.out_of_order.labels(topic).inc(),
        delivered=direct.delivered,
        fetch_wait_seconds=settings.fetch_max_wait_seconds,
    )
    dead_letters = DeadLetters(deadletter, settings.deadletter_topic, metrics.invalid, settings.pseudonyms())
    Agents(app, settings, policy, metrics, wiring, guarantees, dead_letters).install()
    install_pages(pipeline, access.servers, wiring.entities["agents"], policy, settings.agent_names())
    return pipeline
