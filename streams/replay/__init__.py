"""``cxpulse replay``: the KPI engine over stored events in one pass, without Faust.

- ``driver``: state in dicts, facts folded at once, snapshots as the stream's clock advances;
- ``sources``: records from JSON Lines files or a Kafka offset range;
- ``slices``: a long history cut into slices of event time, replayed side by side by processes;
- ``block_loader``: block files into a Prometheus data folder with promtool, beside the replay.

Imports :mod:`metrics`, ``settings`` and ``cluster``.
"""
