"""Contract events as senders post them: one JSON object, a JSON array, or NDJSON (one per line).

Each event is checked with the worker's own validation (:mod:`metrics.contract.validation`)
and addressed to its family's topic under its entity id, as the worker expects its key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from metrics.contract.events import entity_key, family_of
from metrics.contract.validation import Limits, Rejection, validate


@dataclass(frozen=True, slots=True)
class Addressed:
    """A valid event ready to produce: its family, Kafka key and value."""

    family: str
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    """An event the gateway will not produce, with the same reasons the worker's dead letters give."""

    index: int
    reason: str
    detail: str


def parse_body(body: bytes, content_type: str) -> list[object]:
    """The documents of a request body; raises ValueError with the reason if it is not JSON.

    The content type decides: ``application/json`` (or ``+json``) is one JSON document, an
    object or an array, however it is indented; ``application/x-ndjson`` (or JSON Lines) is one
    object per line. Without either, the body is read as one JSON document first and as NDJSON
    only if that fails, so a pretty-printed object and an NDJSON batch are both understood.
    """
    text = body.strip()
    if not text:
        raise ValueError("empty body")
    kind = content_type.lower()
    if "ndjson" in kind or "jsonl" in kind or "json-seq" in kind:
        return _lines(text)
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "json" in kind:
            hint = "; send one event per line as Content-Type: application/x-ndjson" if b"\n" in text else ""
            raise ValueError(f"not JSON: {exc}{hint}") from None
        return _lines(text)
    return doc if isinstance(doc, list) else [doc]


def _lines(text: bytes) -> list[object]:
    try:
        return [orjson.loads(line) for line in text.splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not NDJSON (one JSON object per line): {exc}") from None


def address(
    docs: Sequence[object], limits: Limits, now: float | None
) -> tuple[list[Addressed], list[Refused]]:
    """Every document validated and addressed; the refused ones with their index and reason
    (``now`` None: the clock's time when each is validated)."""
    ready: list[Addressed] = []
    refused: list[Refused] = []
    for index, doc in enumerate(docs):
        result = address_one(doc, limits, now)
        if isinstance(result, Rejection):
            refused.append(Refused(index, result.reason, result.detail))
        else:
            ready.append(result)
    return ready, refused


def address_one(doc: object, limits: Limits, now: float | None) -> Addressed | Rejection:
    if not isinstance(doc, Mapping):
        return Rejection("malformed", "an event must be a JSON object")
    family = family_of(doc)
    if family is None:
        return Rejection("unknown_type", f"no known event type: {str(doc.get('type'))[:60]!r}")
    key = entity_key(doc, family)
    value = orjson.dumps(doc)
    result = validate(value, key.encode() if key else None, family, limits, now)
    if isinstance(result, Rejection):
        return result
    return Addressed(family.name, getattr(result, family.entity_field).encode(), value)
