"""The cap on label values: a flood of made-up queue or channel names costs a bounded number of series."""

from __future__ import annotations

from metrics.documents import Aggregate

# Label values beyond the cap are folded into this one.
OTHER = "other"


def new_label_record(partition: int) -> Aggregate:
    """The queue and channel values one fact partition has admitted, and how many it folded."""
    return {"kind": "labels", "partition": partition, "queue": [], "channel": [], "folded": {}}


def admit_labels(record: Aggregate, queue: str, channel: str, cap: int) -> tuple[str, str, bool]:
    """The label values to count a fact under: its own, or ``other`` once ``cap`` values are in.

    Returns ``(queue, channel, changed)``; ``changed`` tells the caller to save the record.
    A flood of made-up queue or channel names then costs at most ``cap`` series per label.
    """
    changed = False
    out = []
    for label, value in (("queue", queue), ("channel", channel)):
        known = record[label]
        if value == OTHER or value in known:
            out.append(value)
        elif len(known) < cap:
            known.append(value)
            out.append(value)
            changed = True
        else:
            record["folded"][label] = record["folded"].get(label, 0) + 1
            out.append(OTHER)
            changed = True
    return out[0], out[1], changed
