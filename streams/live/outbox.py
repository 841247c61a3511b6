"""What one batch of the live agents sends on: the outputs of :mod:`metrics.engine.steps`, merged."""

from __future__ import annotations

from bisect import bisect_left

from metrics.documents import JsonObject
from metrics.model import Sent


class Outbox:
    """What one batch of events sends on: fact payloads merged per destination and source partition.

    A merged message lists ``[offset, facts]`` per source record, in offset order, so the
    aggregation still applies each record exactly once however the batches fell: a batch
    replayed after a crash may be cut differently from the one that first sent it. Facts of
    one source record that reach the outbox in several parts (the contacts of one contact
    message, or folded label values rerouted from one record) become one entry, and records
    rerouted from two messages are put in offset order: the aggregation applies each offset
    once and in order, so a second entry with the same offset, or a lower one after a higher,
    would be lost.
    """

    def __init__(self) -> None:
        self.facts: dict[tuple[str, str], JsonObject] = {}
        self.others: list[Sent] = []  # contacts for customers, work for agents: sent as they are

    def add(self, sent: list[Sent]) -> None:
        for target, key, payload in sent:
            if target != "facts":
                self.others.append(Sent(target, key, payload))
                continue
            slot = self.facts.get((key, payload["source"]))
            if slot is None:
                slot = {k: v for k, v in payload.items() if k not in ("offset", "facts")}
                slot["records"] = []
                self.facts[(key, payload["source"])] = slot
            records, offset = slot["records"], payload["offset"]
            if not records or records[-1][0] < offset:
                records.append([offset, payload["facts"]])
                continue
            # Rare: several parts of one record, or records rerouted from two messages.
            at = bisect_left(records, offset, key=lambda record: record[0])
            if at < len(records) and records[at][0] == offset:
                # A new list: the parts may be the very lists an entity's ledger keeps.
                records[at] = [offset, records[at][1] + payload["facts"]]
            else:
                records.insert(at, [offset, payload["facts"]])

    def messages(self) -> list[Sent]:
        """What to send, facts first."""
        out = [Sent("facts", key, message) for (key, _), message in self.facts.items()]
        out += self.others
        self.facts, self.others = {}, []
        return out
