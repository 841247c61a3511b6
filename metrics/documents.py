"""Names for decoded JSON documents, so a signature says which kind of document it takes.

What arrives from outside (vendor payloads, contract events before validation) and what the
engine keeps as JSON (entity states, aggregates, internal messages) are plain dicts: they are
read field by field by the code that owns them, and stored or sent as they are, so a typed
record would only be copied in and out. Records that travel between the engine's steps are named
tuples in :mod:`metrics.model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JsonObject = dict[str, Any]  # a decoded JSON object its reader may change
JsonView = Mapping[str, Any]  # one it only reads
Aggregate = JsonObject  # a queue's (or the customer base's) aggregate, as the aggregates table holds it
