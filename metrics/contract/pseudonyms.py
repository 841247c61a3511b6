"""Customer and agent ids replaced by keyed hashes on entry, so cxpulse keeps no raw personal id.

With ``CXPULSE_PSEUDONYMISE_KEY`` set, each ``customer_id`` and ``agent_id`` is replaced by
``p-`` and 22 characters of HMAC-SHA256 under that key as soon as an event has been validated:
the tables, their changelogs, the internal topics and the dead-letter topic hold the
pseudonym. The same id always gives the same pseudonym, so repeat contacts, retention and
every other KPI come out exactly as with the raw ids. Without the key a pseudonym cannot be
traced back to its id; with it, a known id can be looked up (to forget one person's data).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TypeVar

import orjson

from metrics.contract.events import Event

E = TypeVar("E", bound=Event)

# Fields of the event contract that identify a person.
PERSONAL_FIELDS = ("customer_id", "agent_id")


class Pseudonyms:
    def __init__(self, key: str) -> None:
        if len(key) < 16:
            raise ValueError("CXPULSE_PSEUDONYMISE_KEY must be at least 16 characters")
        self._key = key.encode()

    def __call__(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).digest()[:16]
        return "p-" + base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def event(self, event: E) -> E:
        """``event`` with its personal ids pseudonymised (events are immutable: a copy)."""
        update = {f: self(v) for f in PERSONAL_FIELDS if (v := getattr(event, f, None))}
        return event.model_copy(update=update) if update else event

    def parked(
        self, key: bytes | None, value: bytes | None, detail: str, key_is_personal: bool
    ) -> tuple[str | None, str | None, str]:
        """Key, value and detail of a rejected record as the dead-letter topic may keep them.

        A JSON object keeps its shape with the personal fields pseudonymised; anything else is
        withheld (it may hold an id where no field says so), as is the key of a record keyed by
        a customer id.
        """
        raw_ids: list[str] = []
        key_text = None if key is None else key.decode("utf-8", "replace")
        if key_text is not None and key_is_personal:
            raw_ids.append(key_text)
            key_text = self(key_text)
        value_text = None
        if value is not None:
            try:
                doc = orjson.loads(value)
            except orjson.JSONDecodeError:
                doc = None
            if isinstance(doc, dict):
                for field in PERSONAL_FIELDS:
                    if isinstance(doc.get(field), str):
                        raw_ids.append(doc[field])
                        doc[field] = self(doc[field])
                value_text = orjson.dumps(doc).decode()
        for raw in sorted({r for r in raw_ids if r}, key=len, reverse=True):
            detail = detail.replace(raw, self(raw))
        return key_text, value_text, detail
