"""A built worker: its Faust app, and what it owns, creates and reports while it runs."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import faust
from mode.utils.times import want_seconds

from metrics.documents import Aggregate
from metrics.export.worker import WorkerMetrics
from streams.cluster.topics import TopicSpec
from streams.live.health import Health, watch_startup
from streams.settings import Settings

log = logging.getLogger("cxpulse.worker")


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

        Created before the worker joins its group (see :mod:`streams.cluster.topics`): the sources, the
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
        """How the worker stands now (see :mod:`streams.live.health`)."""
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
