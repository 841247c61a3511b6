"""What every adapter shares: the lookups from vendor ids to labels, and how a contract event is built."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from metrics.contract.exits import EXIT_EVENT
from metrics.documents import JsonObject, JsonView

# Vendor channel names → cxpulse channel labels, unless the settings say otherwise.
DEFAULT_CHANNELS: dict[str, str] = {
    "voice": "phone",
    "phone": "phone",
    "chat": "chat",
    "messaging": "chat",
    "native_messaging": "chat",
    "sms": "sms",
    "email": "email",
    "mail": "email",
    "web": "web",
    "web_form": "web",
    "api": "web",
    "twitter": "social",
    "facebook": "social",
    "instagram_dm": "social",
    "whatsapp": "social",
    "callback": "phone",
    "task": "task",
    "default": "task",
}


class Unmappable(ValueError):
    """A payload this adapter cannot turn into events: the sender is told why (422)."""


@dataclass(frozen=True)
class Lookups:
    """Vendor queue and channel ids → the labels cxpulse counts under.

    Queue keys are ``<vendor>:<id>`` (``zendesk:360001234``, ``connect:6ab3…``); an id without
    an entry keeps its own name. Escalation rules say which Zendesk changes count as escalations.
    """

    queues: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    escalation_groups: frozenset[str] = frozenset()
    escalation_priorities: frozenset[str] = frozenset({"urgent"})
    escalation_tags: frozenset[str] = frozenset({"escalated"})
    agent_queues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # vendor agent -> queues
    zammad_escalation_groups: frozenset[str] = frozenset()
    zammad_escalation_priorities: frozenset[str] = frozenset({"3 high"})
    exits: Mapping[str, str] = field(default_factory=dict)  # exit kind -> "exit" or "abandon"

    def exit_event(self, kind: str) -> str:
        """The contract event a caller's exit of ``kind`` (:data:`EXIT_KINDS`) becomes."""
        return EXIT_EVENT[self.exits.get(kind, "exit")]

    def queue(self, vendor: str, queue_id: object, default: str | None = None) -> str:
        key = str(queue_id)
        return self.queues.get(f"{vendor}:{key}") or default or key

    def channel(self, vendor_channel: object) -> str:
        name = str(vendor_channel or "").lower()
        return self.channels.get(name) or DEFAULT_CHANNELS.get(name) or name or "unknown"


def instant(value: object) -> datetime:
    """A UTC time from what vendors send: RFC 3339 text, or Unix seconds or milliseconds."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Unmappable(f"time {value!r} is neither RFC 3339 nor Unix seconds") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    raise Unmappable(f"no usable time in {value!r}")


def moment(value: object) -> str:
    """:func:`instant` as the contract writes it: RFC 3339 in UTC with a ``Z``."""
    return instant(value).isoformat().replace("+00:00", "Z")


def required(payload: JsonView, *path: str) -> Any:
    """The value at ``path``, or :class:`Unmappable` naming what is missing."""
    value: Any = payload
    for step in path:
        if not isinstance(value, Mapping) or value.get(step) in (None, ""):
            raise Unmappable(f"missing {'.'.join(path)}")
        value = value[step]
    return value


def event(type_: str, event_id: str, occurred_at: str, **fields: object) -> JsonObject:
    """A contract event; fields that are None are left out."""
    doc = {"type": type_, "event_id": event_id, "occurred_at": occurred_at}
    doc.update({k: str(v) if k.endswith("_id") else v for k, v in fields.items() if v not in (None, "")})
    return doc


@dataclass(frozen=True)
class Delivery:
    """What a platform's signature check may read of a request."""

    headers: Mapping[str, str]
    body: bytes
    url: str  # as the platform called it (CXPULSE_INGEST_PUBLIC_URL behind a proxy)
    form: list[tuple[str, str]]  # a form request's fields; empty for JSON
    now: float
    window: float  # CXPULSE_INGEST_REPLAY_WINDOW_SECONDS, for platforms that sign a time


@dataclass(frozen=True)
class Signed:
    """How a platform signs its requests: the header that carries the signature, the setting that
    holds the secret, and the check (secret, request) → why it fails, or None."""

    header: str
    secret_setting: str
    check: Callable[[str, Delivery], str | None]


@dataclass(frozen=True)
class Platform:
    """Everything the gateway needs of a platform: its route (``/v1/webhooks/<route>``), how a
    request is read (JSON, or a form), how its sender is proven (a signature where it signs,
    else a bearer token — in the URL for platforms that cannot set a header) and its events.
    A ``stamped`` platform's payload gets the gateway's receipt time as ``received_at``, for
    platforms whose webhooks may carry no time of the change."""

    route: str
    events: Callable[[JsonView, Lookups], list[JsonObject]]
    form: bool = False
    signed: Signed | None = None
    token_in_url: bool = False
    stamped: bool = False
