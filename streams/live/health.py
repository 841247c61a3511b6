"""Whether a worker can do its job now, and what an orchestrator should do when it cannot.

``/live`` answers while the event loop runs; ``/ready`` answers 200 only when the worker is
in its consumer group with an assignment, has rebuilt its tables from their changelogs,
knows every topic it subscribes to, and reaches a broker. A worker that has not once been in
its group with all its topics by ``startup_timeout_seconds`` says why in one log line and
exits 1, so that a process manager starts it again instead of leaving it silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Health:
    """One reading of the conditions a ready worker meets."""

    assigned: bool  # a rebalance gave this worker its assignment (maybe empty) and none is running
    recovering: bool  # tables are being rebuilt from their changelogs
    broker_up: bool | None  # None: not checked yet (the check runs once the worker has started)
    missing_topics: tuple[str, ...] = ()  # subscribed, but absent from the consumer's metadata

    @property
    def joined(self) -> bool:
        """In the group with every topic known: what start-up must reach in bounded time."""
        return self.assigned and not self.missing_topics

    @property
    def ready(self) -> bool:
        return self.joined and not self.recovering and self.broker_up is True

    def reason(self) -> str:
        """Why the worker is not ready, in words an operator can act on; "ready" if it is."""
        reasons = []
        if self.broker_up is False:
            reasons.append("no bootstrap broker accepts connections (check CXPULSE_BROKER)")
        if self.missing_topics:
            reasons.append(
                "topics missing from the consumer's metadata: " + ", ".join(sorted(self.missing_topics))
            )
        if not self.assigned:
            reasons.append("no partition assignment from the consumer group yet (joining or rebalancing)")
        if self.recovering:
            reasons.append("rebuilding tables from their changelogs")
        if not reasons and self.broker_up is None:
            reasons.append("broker not checked yet")
        return "; ".join(reasons) or "ready"


class StartupDeadline:
    """Remembers whether start-up completed; says when it has taken too long."""

    def __init__(self, started_at: float, timeout: float) -> None:
        self.started_at = started_at
        self.timeout = timeout
        self.completed = False

    def expired(self, health: Health, now: float) -> bool:
        """Whether ``health`` has never been joined, and ``timeout`` has passed since ``started_at``."""
        if self.completed:
            return False
        if health.joined:
            self.completed = True
            return False
        return now - self.started_at >= self.timeout


def watch_startup(
    read: Callable[[], Health], timeout: float, on_expired: Callable[[Health], None], interval: float = 1.0
) -> threading.Thread:
    """Call ``on_expired`` if start-up does not complete in ``timeout`` seconds.

    A thread of its own, not a task of the worker's event loop: Faust starts its timers only
    once its consumer has started, which is exactly what a stuck start-up never reaches.
    """
    deadline = StartupDeadline(time.monotonic(), timeout)

    def watch() -> None:
        while not deadline.completed:
            health = read()
            if deadline.expired(health, time.monotonic()):
                on_expired(health)
                return
            time.sleep(interval)

    thread = threading.Thread(target=watch, name="cxpulse-startup-watch", daemon=True)
    thread.start()
    return thread
