"""The KPI core: pure, typed code over events and state, with no Faust, Kafka or ``streams`` import.

Sub-packages, in the order data flows through them; each imports only those above it:

- ``contract``: event models, JSON Schemas, validation, pseudonyms (imports nothing of cxpulse);
- ``definitions`` and ``policy``: the KPI catalogue and the thresholds the rules read;
- ``aggregates``: the state facts are counted into (queue totals and buckets, windows,
  customer periods, the label cap) and its public view;
- ``engine``: entity rules, the exactly-once step, routing, the contact hop, the fold of facts
  into aggregates, state expiry: what the live worker and the replay both run;
- ``export``: Prometheus families built from aggregates, and the OpenMetrics writer;
- ``staffing``: Erlang C (agents required for a service-level target), plain arithmetic;
- ``business_hours``: queue calendars and business seconds between two moments.
"""
