"""Logging of rejected records: once per reason at once, then at most once a minute per reason.

A producer that starts sending a bad format sends thousands of bad records a minute; the
dead-letter topic keeps each one, so the log only needs to say that it is happening, why,
and how much.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

log = logging.getLogger("cxpulse.rejections")


class RejectionLog:
    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: Counter[tuple[str, str]] = Counter()

    def __call__(self, topic: str, reason: str, detail: str, origin: str, deadletter: str) -> bool:
        """Log this rejection unless its reason was logged within the interval; True if logged."""
        key = (topic, reason)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] += 1
            return False
        self._last[key] = now
        more = self._suppressed.pop(key, 0)
        log.warning(
            "rejected a %s record (%s) at %s: %s; parked on %s%s",
            topic,
            reason,
            origin,
            detail,
            deadletter,
            f" ({more} more for this reason since the last message)" if more else "",
        )
        return True
