"""Turn a raw Kafka record into a typed event, or into a rejection with a reason.

A rejection's reason becomes a label value of ``cxpulse_events_invalid_total``, so the
set of reasons is small and fixed (never the raw error text); the detail goes to the
dead-letter topic, where a person can read what was wrong.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import ValidationError

from metrics.contract.events import Event, Family, SurveySubmitted

# Pydantic error types mapped to the reasons users see. Anything unlisted is "invalid".
_REASON_BY_ERROR = {
    "json_invalid": "malformed_json",
    "json_type": "malformed_json",
    "dict_type": "not_an_object",
    "model_type": "not_an_object",
    "model_attributes_type": "not_an_object",
    "union_tag_not_found": "missing_type",
    "union_tag_invalid": "unknown_type",
    "missing": "missing_field",
    "timezone_aware": "timestamp_without_offset",
    "datetime_parsing": "bad_timestamp",
    "datetime_from_date_parsing": "bad_timestamp",
    "datetime_type": "bad_timestamp",
    "string_type": "wrong_type",
    "int_type": "wrong_type",
    "int_parsing": "wrong_type",
    "float_type": "wrong_type",
    "float_parsing": "wrong_type",
    "bool_type": "wrong_type",
    "literal_error": "invalid_value",
    "string_too_short": "invalid_value",
    "string_too_long": "invalid_value",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "value_error": "invalid_value",
    "list_type": "wrong_type",
    "too_long": "invalid_value",
    "string_pattern_mismatch": "invalid_label",
}

REASONS: frozenset[str] = frozenset(
    {
        *_REASON_BY_ERROR.values(),
        "invalid",
        "empty",
        "oversized",
        "bad_encoding",
        "key_mismatch",
        "timestamp_in_future",
        "timestamp_too_old",
    }
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record was not accepted: a fixed reason plus a human-readable detail."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Limits:
    """What a valid record may be, beyond its schema."""

    max_bytes: int = 65536
    ces_scale: tuple[int, int] = (1, 7)
    max_future_seconds: float = 3600.0  # producer clocks ahead of ours by more than this: rejected
    max_age_seconds: float = 35 * 86400.0  # older than every window, period and horizon: rejected


def validate(
    raw: bytes | None,
    key: bytes | None,
    family: Family,
    limits: Limits = Limits(),
    now: float | None = None,
) -> Event | Rejection:
    """Parse one record of ``family``'s topic.

    The Kafka key must equal the entity id: that is what keeps all events of one ticket
    or call on one partition, and therefore in one worker's state.
    """
    max_bytes = limits.max_bytes
    if not raw:
        return Rejection("empty", "record has no value")
    if len(raw) > max_bytes:
        return Rejection("oversized", f"record is {len(raw)} bytes, limit is {max_bytes}")
    try:
        event = family.adapter.validate_json(raw)
    except ValidationError as exc:
        return _rejection(exc, raw)
    entity_id: str = getattr(event, family.entity_field)
    if key is None:
        return Rejection("key_mismatch", f"record has no key; the key must be the {family.entity_field}")
    if key.decode("utf-8", "replace") != entity_id:
        return Rejection("key_mismatch", f"message key {key[:200]!r} differs from {family.entity_field}")
    if isinstance(event, SurveySubmitted):
        low, high = _SCORE_RANGES.get(event.survey, limits.ces_scale)
        if not low <= event.score <= high:
            return Rejection("out_of_range", f"{event.survey} score {event.score} is outside {low}..{high}")
    at = event.at
    now = time.time() if now is None else now
    if at > now + limits.max_future_seconds:
        return Rejection(
            "timestamp_in_future", f"occurred_at {event.occurred_at.isoformat()} is ahead of now"
        )
    if at < now - limits.max_age_seconds:
        return Rejection(
            "timestamp_too_old", f"occurred_at {event.occurred_at.isoformat()} is older than kept"
        )
    return event


_SCORE_RANGES = {"csat": (1, 5), "nps": (0, 10)}


def _rejection(exc: ValidationError, raw: bytes) -> Rejection:
    first = exc.errors(include_url=False, include_input=False)[0]
    reason = _REASON_BY_ERROR.get(first["type"], "invalid")
    if reason == "malformed_json":
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            return Rejection("bad_encoding", f"value is not UTF-8: {err}")
    where = ".".join(str(p) for p in first["loc"]) or "(value)"
    return Rejection(reason, f"{where}: {first['msg']}"[:500])
