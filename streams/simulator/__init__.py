"""Realistic contact-centre traffic, as a library: for ``cxpulse simulate``, the demo, the tests
and the benchmarks.

- ``traffic``: tickets, calls, surveys, customers and agents of a centre, in event-time order;
- ``centre_profiles``: the centres simulated (queues, channels, volume, opening hours);
- ``incidents``: things going wrong on cue, for the alert backtest and ``--incident``;
- ``vendor_traffic``: the same traffic as Zendesk and Twilio would send it to the gateway.

Imports ``metrics`` (policy, staffing, calendars) and the ingest adapters' helpers; the CLI imports it.
"""
