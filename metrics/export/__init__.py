"""Prometheus export: KPI families built from aggregates at scrape time, and the worker's own metrics.

- ``collector``: the KPI families of the aggregates a worker owns (or a replay holds);
- ``worker``: the registry one worker serves, with its operational counters;
- ``openmetrics``: the replay's snapshots written as OpenMetrics text for ``promtool``.

Imports ``definitions``, ``policy`` and ``aggregates``; every series it builds is declared in
:mod:`metrics.definitions`.
"""
