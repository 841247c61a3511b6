"""The KPI engine both drivers run, the live Faust agents and ``cxpulse replay``.

- ``entities``: the rules: one step per event family, turning an event and its entity's state
  into KPI facts and contacts, and the ledger that makes a step run exactly once;
- ``steps``: which step applies, the exactly-once check, routing of outputs, the contact hop;
- ``fold``: facts into the queue's aggregate, with the label cap;
- ``expiry``: forgetting entities nobody has heard of for a long time.

Imports ``contract``, ``definitions``, ``policy`` and ``aggregates``; never Faust, Kafka or ``streams``.
"""
