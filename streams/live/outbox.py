"""What one batch of the live agents sends on: the outputs of :mod:`metrics.engine.steps`, merged."""

from __future__ import annotations

from typing import Any

from metrics.engine.steps import Sent


class Outbox:
    """What one batch of events sends on: fact payloads merged per destination and source partition.

    A merged message lists ``[offset, facts]`` per source record, in offset order, so the
    aggregation still applies each record exactly once however the batches fell: a batch
    replayed after a crash may be cut differently from the one that first sent it.
    """

    def __init__(self) -> None:
        self.facts: dict[tuple[str, str], dict[str, Any]] = {}
        self.contacts: list[tuple[str, dict[str, Any]]] = []

    def add(self, sent: list[Sent]) -> None:
        for target, key, payload in sent:
            if target != "facts":
                self.contacts.append((key, payload))
                continue
            slot = self.facts.get((key, payload["source"]))
            if slot is None:
                slot = {k: v for k, v in payload.items() if k not in ("offset", "facts")}
                slot["records"] = []
                self.facts[(key, payload["source"])] = slot
            slot["records"].append([payload["offset"], payload["facts"]])

    def messages(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(target, key, message)`` to send, facts first."""
        out = [("facts", key, message) for (key, _), message in self.facts.items()]
        out += [("contacts", key, contact) for key, contact in self.contacts]
        self.facts, self.contacts = {}, []
        return out
