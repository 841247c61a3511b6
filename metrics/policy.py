"""Thresholds and costs the KPI rules depend on: defaults, with per-queue overrides.

Contact centres set targets per queue (a chat queue promises a reply in minutes, an email
queue in hours), so every threshold here can differ by queue. Plain data: the worker
builds it from settings, tests build it directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    first_response_target_seconds: float = 3600.0
    service_level_seconds: float = 20.0
    short_abandon_seconds: float = 5.0
    hourly_cost: float = 30.0  # cost of one agent-hour in this queue, in the centre's currency


@dataclass(frozen=True, slots=True)
class Policy:
    default: QueuePolicy = QueuePolicy()
    queues: Mapping[str, QueuePolicy] = field(default_factory=dict)
    repeat_contact_days: float = 7.0
    conversion_days: float = 7.0
    customer_base: int = 0  # active customers before the first lifecycle event cxpulse sees

    def for_queue(self, queue: str) -> QueuePolicy:
        return self.queues.get(queue, self.default)

    @staticmethod
    def build(default: QueuePolicy, overrides: Mapping[str, Mapping[str, Any]], **rest: Any) -> Policy:
        """Per-queue overrides name only what differs from the default."""
        queues = {name: replace(default, **values) for name, values in overrides.items()}
        return Policy(default=default, queues=queues, **rest)
