"""The drivers around the KPI core (:mod:`metrics`): Kafka, Faust, the replay and the command line.

- ``settings``: every ``CXPULSE_*`` setting, read once;
- ``cluster``: reaching Kafka (security, MSK IAM) and creating the topics a worker needs;
- ``delivery``: the guarantees added to Faust (offset order, commit barrier, confirmed
  commits, recovery watchdog, current event); imports no KPI code;
- ``live``: the Faust worker: app, tables, agents, pages, health;
- ``replay``: the same engine over stored events, without Faust;
- ``ingest``: the HTTP gateway and the Asterisk follower that put platforms' events on Kafka;
- ``tools``: the ``cxpulse`` command, the traffic simulator, the embedded broker.

``streams`` imports :mod:`metrics`; :mod:`metrics` never imports ``streams``. Inside, ``tools``
may import every other package; ``live``, ``replay`` and ``ingest`` import ``cluster``,
``delivery`` (live only) and ``settings``; none of those imports ``live``, ``replay``,
``ingest`` or ``tools``.
"""
