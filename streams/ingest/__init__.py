"""``cxpulse ingest``: events from help desks and phone systems onto the contract topics, with no code.

- ``adapters``: one pure mapping per platform, vendor payload → contract events (Zendesk,
  Twilio TaskRouter, Amazon Connect, Genesys Cloud, Asterisk ``queue_log``);
- ``contract_batch``: contract events sent as they are (a JSON object, array or NDJSON), checked
  with the worker's own validation;
- ``signatures``: bearer tokens and the vendors' request signatures;
- ``sink``: the idempotent ``acks=all`` producer a request waits on before it is answered;
- ``gateway``: the HTTP server; ``queue_log``: the follower of Asterisk's ``queue_log``.

Imports :mod:`metrics.contract`, :mod:`metrics.definitions`, ``settings`` and ``cluster``;
nothing imports it but ``tools``.
"""
