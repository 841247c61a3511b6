"""How every cxpulse process reaches Kafka: bootstrap servers, TLS and SASL, built in one place.

Managed clusters (Confluent Cloud, Amazon MSK, Aiven) require TLS and authentication. The
worker talks to Kafka through Faust (aiokafka), the simulator, the replay and the topic
housekeeping through kafka-python; both are given the same ``ssl.SSLContext`` and the same
SASL settings from here, so a setting works for every process or for none.
"""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass
from typing import Any, Literal

from metrics.documents import JsonObject

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
OAuthProvider = Literal["aws-msk-iam"]


_USERINFO_PASSWORD = re.compile(r"(?P<user>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s;,]*):[^@/\s;,]*@")


def without_passwords(text: str) -> str:
    """``kafka://user:secret@host`` → ``kafka://user:********@host``, for anything shown or logged.

    cxpulse takes credentials from the CXPULSE_KAFKA_SASL_* settings, but a password written into
    a URL out of habit must not be printed back.
    """
    return _USERINFO_PASSWORD.sub(r"\g<user>:********@", text)


def bootstrap_servers(broker: str) -> list[str]:
    """``kafka://a:9092;b:9092`` (Faust's form) → ``["a:9092", "b:9092"]``."""
    servers = []
    for part in broker.replace(",", ";").split(";"):
        part = part.strip()
        if part:
            servers.append(part.split("://", 1)[-1])
    return servers


@dataclass(frozen=True)
class KafkaAccess:
    """The address and credentials of one Kafka cluster, as the settings give them."""

    broker: str
    security_protocol: Protocol = "PLAINTEXT"
    sasl_mechanism: Mechanism = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password: str | None = None
    ssl_check_hostname: bool = True
    oauth_provider: OAuthProvider | None = None
    aws_region: str | None = None

    @property
    def servers(self) -> list[str]:
        return bootstrap_servers(self.broker)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def check(self) -> None:
        """Refuse combinations that cannot work, naming the setting to change."""
        password_based = self.uses_sasl and self.sasl_mechanism != "OAUTHBEARER"
        if password_based and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(
                f"CXPULSE_KAFKA_SECURITY_PROTOCOL={self.security_protocol} with "
                f"CXPULSE_KAFKA_SASL_MECHANISM={self.sasl_mechanism} needs "
                "CXPULSE_KAFKA_SASL_USERNAME and CXPULSE_KAFKA_SASL_PASSWORD"
            )
        if self.uses_sasl and self.sasl_mechanism == "OAUTHBEARER" and self.oauth_provider is None:
            raise ValueError(
                "CXPULSE_KAFKA_SASL_MECHANISM=OAUTHBEARER needs a token provider: "
                "CXPULSE_KAFKA_OAUTH_PROVIDER=aws-msk-iam (and CXPULSE_KAFKA_AWS_REGION)"
            )
        if self.oauth_provider == "aws-msk-iam" and not self.aws_region:
            raise ValueError("CXPULSE_KAFKA_OAUTH_PROVIDER=aws-msk-iam needs CXPULSE_KAFKA_AWS_REGION")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError(
                "a client certificate needs both CXPULSE_KAFKA_SSL_CERTFILE and CXPULSE_KAFKA_SSL_KEYFILE"
            )
        if not self.uses_tls and (self.ssl_cafile or self.ssl_certfile):
            raise ValueError(
                f"CXPULSE_KAFKA_SSL_* files are set but CXPULSE_KAFKA_SECURITY_PROTOCOL="
                f"{self.security_protocol} does not use TLS; set it to SSL or SASL_SSL"
            )
        files = {"CAFILE": self.ssl_cafile, "CERTFILE": self.ssl_certfile, "KEYFILE": self.ssl_keyfile}
        for name, path in files.items():
            if path and not os.path.isfile(path):
                raise ValueError(f"CXPULSE_KAFKA_SSL_{name}={path}: no such file")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context both client libraries use; None without TLS."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile and self.ssl_keyfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, password=self.ssl_key_password)
        return context

    def faust_credentials(self) -> Any:
        """What ``faust.App(broker_credentials=...)`` takes for these settings (None: plaintext).

        Faust's ``SASLCredentials`` and ``OAuthCredentials`` speak SASL_PLAINTEXT unless they are
        given an SSL context, so the context is always passed with SASL_SSL.
        """
        import faust

        context = self.ssl_context()
        if not self.uses_sasl:
            return None if context is None else faust.SSLCredentials(context)
        if self.sasl_mechanism == "OAUTHBEARER":
            from streams.cluster.msk_iam import AsyncMskTokenProvider

            return faust.OAuthCredentials(
                oauth_cb=AsyncMskTokenProvider(self.aws_region or ""), ssl_context=context
            )
        return faust.SASLCredentials(
            username=self.sasl_username,
            password=self.sasl_password,
            mechanism=self.sasl_mechanism,
            ssl_context=context,
        )

    def kafka_python(self) -> JsonObject:
        """Keyword arguments for kafka-python's producer, consumer and admin client."""
        return self._python_client(asynchronous=False)

    def aiokafka(self) -> JsonObject:
        """Keyword arguments for aiokafka's clients (the benchmark's bare consumer)."""
        return self._python_client(asynchronous=True)

    def _python_client(self, asynchronous: bool) -> JsonObject:
        config: JsonObject = {
            "bootstrap_servers": self.servers,
            "security_protocol": self.security_protocol,
        }
        context = self.ssl_context()
        if context is not None:
            config["ssl_context"] = context
        if self.uses_sasl:
            config["sasl_mechanism"] = self.sasl_mechanism
            if self.sasl_mechanism == "OAUTHBEARER":
                from streams.cluster.msk_iam import AsyncMskTokenProvider, MskTokenProvider

                provider = AsyncMskTokenProvider if asynchronous else MskTokenProvider
                config["sasl_oauth_token_provider"] = provider(self.aws_region or "")
            else:
                config["sasl_plain_username"] = self.sasl_username
                config["sasl_plain_password"] = self.sasl_password
        return config

    def librdkafka(self) -> JsonObject:
        """Configuration for librdkafka clients (confluent-kafka, Quix Streams: the benchmark's peers)."""
        if self.sasl_mechanism == "OAUTHBEARER" and self.uses_sasl:
            raise ValueError("the benchmark's librdkafka clients take SASL PLAIN or SCRAM, not OAUTHBEARER")
        config: JsonObject = {
            "bootstrap.servers": ",".join(self.servers),
            "security.protocol": self.security_protocol.lower(),
        }
        files = {
            "ssl.ca.location": self.ssl_cafile,
            "ssl.certificate.location": self.ssl_certfile,
            "ssl.key.location": self.ssl_keyfile,
            "ssl.key.password": self.ssl_key_password,
        }
        config.update({k: v for k, v in files.items() if v and self.uses_tls})
        if self.uses_tls and not self.ssl_check_hostname:
            config["ssl.endpoint.identification.algorithm"] = "none"
        if self.uses_sasl:
            config["sasl.mechanisms"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password
        return config

    def explain(self, exc: BaseException, causes: list[str] | None = None) -> str:
        """A connection failure in words, with the setting most likely to fix it.

        kafka-python reports a refused certificate or password only as a bootstrap timeout;
        ``causes`` are the connection errors it logged meanwhile
        (see :func:`streams.cluster.connection_log.connection_errors`).
        """
        seen = [*(causes or []), f"{exc.__class__.__name__}: {exc}"]

        def first(*words: str) -> str | None:
            return next((text for text in seen if any(w in text.lower() for w in words)), None)

        if text := first("certificate verify failed", "certificate_verify_failed"):
            hint = " or fix CXPULSE_BROKER's host name" if "hostname" in text.lower() else ""
            return (
                f"the broker's TLS certificate is not trusted ({text}); set CXPULSE_KAFKA_SSL_CAFILE to "
                f"the CA that signed it{hint}"
            )
        if text := first("authentication", "sasl", "scram"):
            return (
                f"the broker refused the credentials ({text}); check CXPULSE_KAFKA_SASL_USERNAME, "
                f"CXPULSE_KAFKA_SASL_PASSWORD and CXPULSE_KAFKA_SASL_MECHANISM={self.sasl_mechanism}"
            )
        if text := first("ssl", "tls", "handshake"):
            return (
                f"TLS with the broker failed ({text}); check CXPULSE_KAFKA_SECURITY_PROTOCOL "
                "(SSL/SASL_SSL only if the listener speaks TLS) and the CXPULSE_KAFKA_SSL_* files"
            )
        return (
            f"cannot reach the Kafka broker at {without_passwords(self.broker)} ({seen[-1]}); check "
            "CXPULSE_BROKER, that the "
            f"broker is up, and CXPULSE_KAFKA_SECURITY_PROTOCOL={self.security_protocol} matches its listener"
        )
