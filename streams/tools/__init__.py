"""What people run: the ``cxpulse`` command, the traffic simulator and the embedded broker.

- ``cli``: the command group, ``worker``, ``config`` and ``schemas``;
- ``simulate_command``, ``demo``, ``replay_command``, ``ingest_command``: one module per longer command;
- ``vendor_traffic``: the simulator's traffic as Zendesk and Twilio would send it;
- ``common``: settings from options and the environment, Kafka failures explained;
- ``simulator``: realistic contact-centre traffic;
- ``embedded_broker``, ``processes``: a local Kafka-protocol broker for the demo, and child processes;
- ``gc_tuning``: garbage-collector settings for long-lived workers.

May import every other package of ``streams``; nothing imports it.
"""
