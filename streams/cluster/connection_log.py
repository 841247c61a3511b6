"""Why kafka-python's connections failed, read from its log while a command connects.

kafka-python answers a refused password or certificate with nothing better than a bootstrap
timeout; the reasons appear only in its log. And a broker that refuses SCRAM credentials does
not always say so: Kafka delays closing a connection that failed authentication, and when
the close wins the race against the error response the client sees only ``socket disconnected``
after its last ``SaslAuthenticate``. A disconnect at that step is a refusal of the credentials,
so the connection's last request in flight is tracked too, and such a loss reported as one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

# Where kafka-python (3.x, then 2.x) and aiokafka log why a connection failed or ended.
_CONNECTION_LOGGERS = ("kafka.net.connection", "kafka.net.manager", "kafka.conn", "aiokafka")
# kafka-python 3.x logs each request it sends and each response it reads here, at DEBUG.
_REQUEST_LOGGER = "kafka.net.connection"
_AUTHENTICATING = ("SaslHandshakeRequest", "SaslAuthenticateRequest", "SaslBytesRequest")


class _Remember(logging.Handler):
    """Keeps the reason of each failed or lost connection, newest last."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for marker in ("Connection lost:", "Connection failed:"):
            if marker in message:
                self.messages.append(message.split(marker, 1)[1].strip())
                return
        # A failure while connecting to a bootstrap server (TLS, SASL) is told only here.
        if message.startswith("Bootstrap connection to ") and " failed: " in message:
            self.messages.append(message.split(" failed: ", 1)[1].rsplit(" (backoff", 1)[0].strip())


class _InFlight(logging.Filter):
    """Notes each connection's unanswered request from kafka-python's DEBUG records.

    Only records at or above ``shown`` (the level the logger had before) pass on to handlers,
    so turning the logger to DEBUG for this changes nothing the user sees.
    """

    def __init__(self, shown: int, messages: list[str]) -> None:
        super().__init__()
        self.shown = shown
        self.messages = messages
        self.pending: dict[int, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            connection = id(args[0])
            text = record.msg if isinstance(record.msg, str) else ""
            if text.endswith("Request %d: %s") and len(args) == 3:
                self.pending[connection] = type(args[2]).__name__
            elif text.endswith(": Response %d (%s ms): %s"):
                self.pending.pop(connection, None)
            elif text.endswith(": Connection lost: %s"):
                request = self.pending.pop(connection, "")
                if request in _AUTHENTICATING:
                    self.messages.append(
                        f"SASL authentication failed: the broker closed the connection without "
                        f"answering {request} ({args[-1]})"
                    )
        return record.levelno >= self.shown


@contextlib.contextmanager
def connection_errors() -> Iterator[list[str]]:
    """Collect why kafka-python's connections failed while the block runs (newest last)."""
    handler = _Remember()
    loggers = [logging.getLogger(name) for name in _CONNECTION_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    requests = logging.getLogger(_REQUEST_LOGGER)
    level = requests.level
    in_flight = _InFlight(requests.getEffectiveLevel(), handler.messages)
    requests.addFilter(in_flight)
    requests.setLevel(logging.DEBUG)
    try:
        yield handler.messages
    finally:
        requests.setLevel(level)
        requests.removeFilter(in_flight)
        for logger in loggers:
            logger.removeHandler(handler)
