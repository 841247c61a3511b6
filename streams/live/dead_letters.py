"""Rejected records: parked on the dead-letter topic with their reason, counted, and logged sparingly.

A producer that starts sending a bad format sends thousands of bad records a minute; the
dead-letter topic keeps each one, so the log only says that it is happening, why and how
much: once per reason at once, then at most once a minute per reason.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import orjson

from metrics.contract.events import Family
from metrics.contract.pseudonyms import PERSONAL_FIELDS, Pseudonyms
from metrics.contract.validation import Rejection

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


class DeadLetters:
    """Parks rejected records on the dead-letter topic: reason, detail, origin, key and value.

    With pseudonyms on, a parked record's personal ids are replaced too (the dead-letter
    topic must not hold what the tables don't).
    """

    def __init__(self, topic: Any, topic_name: str, invalid: Any, pseudonyms: Pseudonyms | None) -> None:
        self._topic = topic
        self._topic_name = topic_name
        self._invalid = invalid  # the counter of rejections by topic and reason
        self._pseudonyms = pseudonyms
        self._log = RejectionLog()

    def park(self, rejection: Rejection, message: Any, raw_value: bytes | None, family: Family) -> None:
        self._invalid.labels(message.topic, rejection.reason).inc()
        origin = f"{message.topic}:{message.partition}:{message.offset}"
        key_bytes, detail = message.key, rejection.detail
        if self._pseudonyms is None:
            key = None if key_bytes is None else key_bytes.decode("utf-8", "replace")
            value = None if raw_value is None else raw_value.decode("utf-8", "replace")
        else:
            personal_key = family.entity_field in PERSONAL_FIELDS
            key, value, detail = self._pseudonyms.parked(key_bytes, raw_value, detail, personal_key)
            key_bytes = None if key is None else key.encode()
        self._log(message.topic, rejection.reason, detail, origin, self._topic_name)
        record = {
            "reason": rejection.reason,
            "detail": detail,
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": key,
            "value": value,
        }
        self._topic.send_soon(key=key_bytes, value=orjson.dumps(record))
