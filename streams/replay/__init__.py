"""``cxpulse replay``: the KPI engine over stored events in one pass, without Faust.

- ``driver``: state in dicts, facts folded at once, snapshots as the stream's clock advances;
- ``sources``: records from JSON Lines files or a Kafka offset range.

Imports :mod:`metrics`, ``settings`` and ``cluster``.
"""
