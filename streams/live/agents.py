"""The live worker's agents: thin drivers of the engine (:mod:`metrics.engine`) over Faust streams.

Stages, each keyed so that its state lives on exactly one worker:

1. *Entity agents* consume ``tickets``, ``calls``, ``surveys``, ``customers`` and ``agents`` (keyed by
   the entity id). Each event reads and updates its entity's state and yields KPI facts
   for its queue and, for a contact with a customer id, a contact for the customer. The
   facts of each queue and source partition are merged per batch; a batch's fact messages for
   one partition of the internal fact topic (each where its ``queue|channel`` key goes) travel
   as one message, and so do its contacts for one partition of the contact topic (each where
   its customer goes).
2. The *customer agent* consumes the contact topic next to the ``customers`` topic (same
   keys, same partitions) for repeat contacts and conversions; the *agent-work agent* consumes
   the agent-work topic next to the ``agents`` topic, for each agent's calls of the day.
3. The *aggregation agent* consumes the fact topic, so all facts of one queue and channel
   meet in one partition, and folds them into that queue's aggregate and buckets.

All three run the same batch loop: admit each record in offset order, once per batch
(:mod:`streams.delivery`), handle it, write each touched table key once, then send what the
batch produced.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

from faust.types import AppT, EventT, Message, StreamT, TopicT

from metrics.contract.events import FAMILIES, Event, Family
from metrics.contract.validation import Rejection, validate
from metrics.documents import JsonObject
from metrics.engine.expiry import expiry_by_family
from metrics.engine.fold import fold_into_aggregate
from metrics.engine.steps import Step, contact_hop, entity_step, process_entity, work_hop
from metrics.export.worker import WorkerMetrics
from metrics.model import encode
from metrics.policy import Policy
from streams.delivery import Acting, Delivery
from streams.live.batched_table import BatchedTable
from streams.live.confirmed_payloads import ConfirmedPayloads
from streams.live.dead_letters import DeadLetters
from streams.live.direct_send import DirectSend, grouped_items
from streams.live.outbox import Outbox
from streams.settings import Settings

OnRecord = Callable[[EventT, Outbox, float], None]  # (record, outbox, batch time)


@dataclass
class Wiring:
    """What the agents read and write: topics by role, tables as batch views."""

    sources: JsonObject  # family name -> source topic
    facts: TopicT
    contacts: TopicT
    agent_work: TopicT
    entities: dict[str, BatchedTable]  # family name -> state table
    aggregates: BatchedTable
    direct: DirectSend  # where the tables' changelog records and the messages wait for a batch's end


class Agents:
    def __init__(
        self,
        app: AppT,
        settings: Settings,
        policy: Policy,
        metrics: WorkerMetrics,
        wiring: Wiring,
        guarantees: Delivery,
        dead_letters: DeadLetters,
    ) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.wiring = wiring
        self.guarantees = guarantees
        self.dead_letters = dead_letters
        self.policy = policy
        self.limits = settings.limits()
        self.pseudonyms = settings.pseudonyms()
        self.outputs_to = {
            "facts": wiring.facts.get_topic_name(),
            "contacts": wiring.contacts.get_topic_name(),
            "agent-work": wiring.agent_work.get_topic_name(),
        }
        self.expiry = expiry_by_family(
            wiring.entities, settings.state_retention_days, settings.call_state_retention_days
        )
        # States kept in memory drop their ledgers' payloads once Kafka has the commit.
        self.confirmed = {
            name: ConfirmedPayloads(table, guarantees.committed)
            for name, table in wiring.entities.items()
            if table.encoded and not table.partitioned
        }
        # Each fact partition admits its share of the label values.
        self.label_cap = max(1, -(-settings.max_label_values // settings.partitions))

    def install(self) -> None:
        app, wiring = self.app, self.wiring
        for family in FAMILIES.values():
            table = wiring.entities[family.name]
            loop = self._loop(
                f"{family.name}_entities",
                table,
                self._entity_record(family, table),
                self.confirmed.get(family.name),
            )
            app.agent(wiring.sources[family.name], name=f"{family.name}-entities")(loop)
        customers = wiring.entities["customers"]
        loop = self._loop(
            "customer_contacts", customers, self._contact_record(customers), self.confirmed.get("customers")
        )
        app.agent(wiring.contacts, name="customer-contacts")(loop)
        agents = wiring.entities["agents"]
        loop = self._loop("agent_work", agents, self._work_record(agents), self.confirmed.get("agents"))
        app.agent(wiring.agent_work, name="agent-work")(loop)
        loop = self._loop("aggregate_facts", wiring.aggregates, self._fact_record())
        app.agent(wiring.facts, name="queue-aggregation")(loop)

    def _loop(
        self,
        name: str,
        table: BatchedTable,
        on_record: OnRecord,
        confirmed: ConfirmedPayloads | None = None,
    ) -> Callable[[StreamT], Coroutine[None, None, None]]:
        """The batch loop every agent runs: admit, handle, write each touched key once, send."""
        batch_size, batch_wait = self.settings.batch_size, self.settings.batch_wait_seconds
        due, queue, send = self.guarantees.due, self._queue, self.wiring.direct.send

        async def process(stream: StreamT) -> None:
            async for batch in stream.take_events(batch_size, within=batch_wait):
                outbox = Outbox()
                now = time.time()
                acting = Acting(stream)
                for record in due(batch):
                    acting(record)
                    on_record(record, outbox, now)
                table.flush(acting.partition)
                queue(outbox)
                await send()
                if confirmed is not None:
                    confirmed.forget()

        process.__name__ = name
        return process

    def _queue(self, outbox: Outbox) -> None:
        """Fact messages and contacts, each ``[key, message]`` grouped per destination partition."""
        outputs_to, grouped, dumps = self.outputs_to, self.wiring.direct.grouped, encode
        for target, key, message in outbox.messages():
            grouped(outputs_to[target], key.encode(), dumps([key, message]))

    def _entity_record(self, family: Family, table: BatchedTable) -> OnRecord:
        limits, policy, pseudonyms = self.limits, self.policy, self.pseudonyms
        metrics = self.metrics
        park, observe_delay, handle = self.dead_letters.park, metrics.delay.observe, self._handle
        entity_field, name = family.entity_field, family.name

        def on_record(record: EventT, outbox: Outbox, now: float) -> None:
            message = record.message
            result = validate(record.value, message.key, family, limits, now)
            if isinstance(result, Rejection):
                park(result, message, record.value, family)
                return
            event: Event = result if pseudonyms is None else pseudonyms.event(result)
            metrics.count_event(message.topic, event.type)
            at = event.at
            observe_delay(now - at)
            step = entity_step(name, event, policy, f"{message.topic}:{message.partition}")
            handle(table, getattr(event, entity_field), event.event_id, message, step, name, at, outbox)

        return on_record

    def _contact_record(self, customers: BatchedTable) -> OnRecord:
        policy, handle = self.policy, self._handle

        def on_record(record: EventT, outbox: Outbox, now: float) -> None:
            message = record.message
            suffix = f">{message.partition}"
            # A batch's contacts for one partition, as [customer, contact] pairs.
            for customer_id, contact in grouped_items(record.value, message.key):
                # Contacts of one ticket or call partition stay in order only within one contact
                # partition: the pair is the clock their facts' lateness is judged by.
                contact["clock"] += suffix
                event_id, step = contact_hop(contact, policy)
                handle(customers, customer_id, event_id, message, step, "customers", contact["at"], outbox)

        return on_record

    def _work_record(self, agents: BatchedTable) -> OnRecord:
        policy, handle = self.policy, self._handle

        def on_record(record: EventT, outbox: Outbox, now: float) -> None:
            message = record.message
            # A batch's work for one partition, as [agent, work] pairs.
            for agent_id, work in grouped_items(record.value, message.key):
                work_id, step = work_hop(work, policy)
                handle(agents, agent_id, work_id, message, step, "agents", work["at"], outbox)

        return on_record

    def _fact_record(self) -> OnRecord:
        aggregates, cap = self.wiring.aggregates, self.label_cap
        bucket_seconds, grace_seconds = self.settings.bucket_seconds, self.settings.grace_seconds
        history_days, day_start = self.policy.forecast.history_days, self.policy.day_start
        count_fact_messages = self.metrics.fact_messages.inc

        def on_record(record: EventT, outbox: Outbox, now: float) -> None:
            message = record.message
            partition = message.partition
            # A batch's fact messages for one partition, as [queue|channel, message] pairs.
            for key, payload in grouped_items(record.value, message.key):
                applied, send_on = fold_into_aggregate(
                    aggregates,
                    key,
                    payload,
                    partition,
                    cap,
                    bucket_seconds,
                    grace_seconds,
                    history_days,
                    day_start,
                )
                if applied:
                    count_fact_messages(applied)
                outbox.add(send_on)

        return on_record

    def _handle(
        self,
        table: BatchedTable,
        entity_id: str,
        event_id: str,
        message: Message,
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
        committed = self.guarantees.committed(message.tp)
        source = f"{message.topic}:{message.partition}"
        status, sent = process_entity(
            table, entity_id, event_id, step, source, message.offset, event_time, committed
        )
        if status == "duplicate":
            self.metrics.duplicates.labels(message.topic).inc()
            return
        if status == "new":
            confirmed = self.confirmed.get(family)
            if confirmed is not None:
                confirmed.written(message.tp, message.offset, entity_id)
            self.metrics.expired.inc(self.expiry[family].tick(message.partition))
        outbox.add(sent)
