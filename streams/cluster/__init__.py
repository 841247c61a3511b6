"""Reaching Kafka: connection security, AWS MSK IAM tokens, and the topics a worker needs.

- ``access``: one description of how to connect, turned into each client's settings
  (Faust, aiokafka, kafka-python, librdkafka) and into advice when a connection fails;
- ``msk_iam``: OAUTHBEARER tokens for MSK with IAM;
- ``topics``: creating topics and waiting until every broker lists them.

Imports no other cxpulse package.
"""
