"""The ``cxpulse`` command: what people run, and the local infrastructure it starts.

- ``main``: the command group, ``worker``, ``config`` and ``schemas``;
- ``simulate_command``, ``demo``, ``replay_command``, ``ingest_command``, ``top``: one module per
  longer command; ``replay_stretch`` (one process's replay into a writer) and ``replay_slices``
  (``--jobs``: slices side by side) behind ``replay_command``;
- ``common``: settings from options and the environment, Kafka failures explained;
- ``embedded_broker``, ``processes``: a local Kafka-protocol broker for the demo, and child processes;
- ``gc_tuning``: garbage-collector settings for long-lived processes.

May import every other package of ``streams``; nothing imports it.
"""
