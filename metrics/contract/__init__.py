"""The event contract: what producers write, and how a raw record becomes an event or a rejection.

The bottom layer of cxpulse. The event models (``events``), the JSON Schemas generated from
them (``schemas/``) and validation (``validation``) import nothing of cxpulse's own and
nothing of Faust or Kafka, so the KPI rules, the live worker, the replay and the tests all
read events the same way. Everything else may import this package; it imports none of them.
"""
