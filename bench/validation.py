"""What validating an event costs, and what a msgspec decoder would save.

    python bench/validation.py            # cxpulse's validation, per family and overall
    uv pip install msgspec && python bench/validation.py   # adds the msgspec comparison

Events come from the simulator (a few thousand of each family, as producers write them). For
each, three figures in microseconds per event: pydantic-core parsing the JSON into the contract's
model (``TypeAdapter.validate_json``), cxpulse's whole ``validate()`` (that parse, plus the key,
the survey range and the clock checks), and, when msgspec is installed, a msgspec decoder of
Structs with the same fields and constraints (the speed a "fast path" could reach; msgspec is
not a cxpulse dependency). Compare with a worker's cost per event (docs/performance.md).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Union

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics.contract.events import FAMILIES, entity_key  # noqa: E402
from metrics.contract.validation import Limits, validate  # noqa: E402
from streams.simulator.traffic import Traffic  # noqa: E402

ROUNDS = 5


def per_event(work: Any, items: list) -> float:
    """Best of ``ROUNDS`` passes, in microseconds per item."""
    best = float("inf")
    for _ in range(ROUNDS):
        began = time.perf_counter()
        for item in items:
            work(item)
        best = min(best, time.perf_counter() - began)
    return best / len(items) * 1e6


try:  # msgspec is not a cxpulse dependency: only this comparison uses it
    import msgspec
except ImportError:
    msgspec = None

if msgspec is not None:
    Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    Label = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")]
    Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    Aware = Annotated[datetime, msgspec.Meta(tz=True)]

    class Contact(msgspec.Struct, frozen=True, tag_field="type"):
        event_id: Ident
        occurred_at: Aware
        queue: Label
        channel: Label
        agent_id: Ident | None = None
        customer_id: Ident | None = None

    class Call(Contact, frozen=True):
        call_id: Ident = ""

    class Ticket(Contact, frozen=True):
        ticket_id: Ident = ""
        author: str = "customer"
        tags: Annotated[list[Name], msgspec.Meta(max_length=50)] = []


def msgspec_decoders() -> dict[str, Any] | None:
    """Decoders of Structs mirroring the call and ticket contracts, or None without msgspec."""
    if msgspec is None:
        return None
    out = {}
    for family, base in (("calls", Call), ("tickets", Ticket)):
        types = [
            msgspec.defstruct(t, [], bases=(base,), tag=t, frozen=True)
            for t in sorted(FAMILIES[family].types)
        ]
        out[family] = msgspec.json.Decoder(Union[tuple(types)])  # noqa: UP007
    return out


def main() -> None:
    start = time.time() - 3600
    records: dict[str, list[tuple[bytes, bytes]]] = {name: [] for name in FAMILIES}
    for family, key, event in Traffic(start=start, rate=20, seed=11).until(start + 900):
        records[family].append((orjson.dumps(event), key.encode()))
    limits, now = Limits(), time.time()
    decoders = msgspec_decoders()
    print("µs per event:")
    print(f"{'family':10} {'events':>7} {'pydantic parse':>15} {'validate()':>11} {'msgspec':>8}")
    weighted = {"parse": 0.0, "validate": 0.0, "n": 0}
    for name, items in records.items():
        if not items:
            continue
        family = FAMILIES[name]
        assert all(entity_key(orjson.loads(raw), family) == key.decode() for raw, key in items[:10])
        parse = per_event(lambda item, f=family: f.adapter.validate_json(item[0]), items)
        whole = per_event(lambda item, f=family: validate(item[0], item[1], f, limits, now), items)
        fast = ""
        if decoders is not None and name in decoders:
            fast = f"{per_event(lambda item, d=decoders[name]: d.decode(item[0]), items):8.2f}"
        print(f"{name:10} {len(items):7d} {parse:15.2f} {whole:11.2f} {fast:>8}")
        weighted["parse"] += parse * len(items)
        weighted["validate"] += whole * len(items)
        weighted["n"] += len(items)
    n = weighted["n"]
    print(f"{'all':10} {n:7d} {weighted['parse'] / n:15.2f} {weighted['validate'] / n:11.2f}")
    if decoders is None:
        print("(msgspec is not installed: `uv pip install msgspec` adds its column)")


if __name__ == "__main__":
    main()
