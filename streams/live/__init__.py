"""The live worker: the Faust app, its tables and agents, and the pages Prometheus and Kubernetes read.

- ``app``: the Faust app with its topics and tables (:func:`build_app`);
- ``agents``: the entity, customer and aggregation agents over one shared batch loop;
- ``pipeline``: a built worker and what it owns (assignment, health, exported aggregates);
- ``pages``: ``/metrics``, ``/live``, ``/ready`` and the broker check;
- ``batched_table``, ``outbox``: one changelog record per key per batch, one message per
  destination per batch;
- ``health``, ``rejection_log``: readiness and dead-letter logs (TLS and basic auth: ``streams.web_config``).

Imports :mod:`metrics`, ``settings``, ``cluster`` and ``delivery``.
"""
