"""Runtime settings, read from ``CXPULSE_*`` environment variables, grouped by role.

One settings object feeds the worker, the simulator, the replay and the demo, so the names a
deployment sets (docker compose, Kubernetes) are the names documented here. It is composed of
one class per role (:data:`ROLES`); code that needs one role takes that class, so a reader sees
what a module depends on, and a test builds only what it needs. The objects built from them
(:class:`~metrics.policy.Policy`, :class:`~metrics.contract.validation.Limits`,
:class:`~streams.cluster.access.KafkaAccess`) are built once by each process and passed down.
"""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, SecretStr, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from metrics.business_hours import Calendar
from metrics.contract.exits import EXIT_KINDS
from metrics.contract.pseudonyms import Pseudonyms
from metrics.contract.validation import Limits
from metrics.definitions import WINDOWS
from metrics.documents import JsonObject
from metrics.policy import (
    DEFAULT_PRIORITIES,
    DEFAULTS,
    FORECAST_DEFAULTS,
    ForecastPolicy,
    Policy,
    QueuePolicy,
)
from streams.cluster.access import KafkaAccess, Mechanism, OAuthProvider, Protocol

# The settings a queue may override in CXPULSE_QUEUE_SETTINGS (QueuePolicy's fields).
PER_QUEUE = tuple(f.name for f in fields(QueuePolicy) if f.name != "calendar")
# When "today so far" starts again: a quarter-hour of the local day, centre-wide or per queue.
QuarterHourOfDay = Annotated[float, Field(ge=0, lt=24, multiple_of=0.25)]
_QUARTER_HOUR_OF_DAY = TypeAdapter(QuarterHourOfDay)


class _Role(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CXPULSE_", extra="ignore")
    title: ClassVar[str] = ""  # the role's heading in docs/configuration.md


class KafkaAccessSettings(_Role):
    """How every Kafka client of a process reaches and authenticates to the brokers."""

    title = "Kafka access"

    broker: str = Field(
        "kafka://127.0.0.1:9092",
        description="Kafka bootstrap servers, e.g. kafka://host1:9092;host2:9092.",
    )
    kafka_security_protocol: Protocol = Field(
        "PLAINTEXT",
        description="How clients talk to the brokers: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
    )
    kafka_sasl_mechanism: Mechanism = Field(
        "PLAIN", description="SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER."
    )
    kafka_sasl_username: str | None = Field(
        None, description="SASL user name (an API key on Confluent Cloud)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (an API secret on Confluent Cloud). Secret."
    )
    kafka_ssl_cafile: str | None = Field(
        None, description="PEM file of the CA(s) that signed the brokers' certificates (default: system CAs)."
    )
    kafka_ssl_certfile: str | None = Field(
        None, description="PEM client certificate, for mutual TLS (Aiven)."
    )
    kafka_ssl_keyfile: str | None = Field(None, description="PEM private key of the client certificate.")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="Password of the client key, if it is encrypted. Secret."
    )
    kafka_ssl_check_hostname: bool = Field(
        True, description="Check that a broker's certificate names the host connected to."
    )
    kafka_oauth_provider: OAuthProvider | None = Field(
        None, description="Token provider for OAUTHBEARER: aws-msk-iam (needs the extra cxpulse[msk-iam])."
    )
    kafka_aws_region: str | None = Field(None, description="AWS region of the MSK cluster, for aws-msk-iam.")

    @model_validator(mode="after")
    def _kafka_access_works(self) -> Self:
        self.kafka().check()
        return self

    def kafka(self) -> KafkaAccess:
        """Address and credentials for every Kafka client of this process."""
        return KafkaAccess(
            broker=self.broker,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=reveal(self.kafka_sasl_password),
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_key_password=reveal(self.kafka_ssl_key_password),
            ssl_check_hostname=self.kafka_ssl_check_hostname,
            oauth_provider=self.kafka_oauth_provider,
            aws_region=self.kafka_aws_region,
        )


class TopicSettings(_Role):
    """Which topics a deployment reads and writes, and how cxpulse creates its own."""

    title = "Topics"

    app_id: str = Field("cxpulse", description="Consumer group id and prefix of internal topics.")
    tickets_topic: str = Field("tickets", description="Topic of ticket events, keyed by ticket_id.")
    calls_topic: str = Field("calls", description="Topic of call events, keyed by call_id.")
    surveys_topic: str = Field(
        "surveys", description="Topic of survey answers, keyed by the rated ticket/call id."
    )
    customers_topic: str = Field(
        "customers", description="Topic of customer lifecycle events, keyed by customer_id."
    )
    agents_topic: str = Field("agents", description="Topic of agent state changes, keyed by agent_id.")
    deadletter_topic: str = Field(
        "",
        description="Where events that fail validation are parked with their reason; empty: "
        "`<CXPULSE_APP_ID>-deadletter` (`cxpulse-deadletter` for the default app id), so deployments "
        "sharing a cluster keep their rejected records apart.",
    )
    deadletter_retention_days: float = Field(
        7,
        gt=0,
        description="How long the dead-letter topic keeps rejected records (set when cxpulse creates it).",
    )
    partitions: int = Field(
        4, ge=1, description="Partitions of the source and internal topics (all must have this many)."
    )
    replication_factor: int = Field(
        1,
        ge=1,
        description="Replication factor of every topic cxpulse creates, its internal ones included "
        "(3 on Confluent Cloud and most managed clusters).",
    )

    @model_validator(mode="after")
    def _derived_names(self) -> Self:
        if not self.deadletter_topic:
            # object.__setattr__: a derived name is not one the user set.
            object.__setattr__(self, "deadletter_topic", f"{self.app_id}-deadletter")
        return self

    def source_topics(self) -> dict[str, str]:
        """Event family -> the topic it is read from."""
        return {
            "tickets": self.tickets_topic,
            "calls": self.calls_topic,
            "surveys": self.surveys_topic,
            "customers": self.customers_topic,
            "agents": self.agents_topic,
        }


class WorkerSettings(_Role):
    """How the live worker runs: its HTTP server, buckets, state, batches and group membership."""

    title = "Worker"

    web_host: str = Field("0.0.0.0", description="Address the worker's HTTP server binds to.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of /metrics on the worker.")
    bucket_seconds: int = Field(60, ge=1, description="Width of the event-time buckets behind windowed KPIs.")
    grace_seconds: int = Field(
        120, ge=0, description="How late (event time) an event may arrive and still enter its bucket."
    )
    state_retention_days: float = Field(
        35, gt=0, description="Tickets, survey subjects and customers silent this long are forgotten."
    )
    call_state_retention_days: float = Field(2, gt=0, description="Calls silent this long are forgotten.")
    max_label_values: int = Field(
        200, ge=1, description='Distinct queues (and channels) counted apart; further ones fold into "other".'
    )
    group_instance_id: str | None = Field(
        None,
        description="Static group membership id, unique per worker and stable over restarts (the pod "
        "name in a StatefulSet): a worker back within the session timeout keeps its partitions.",
    )
    session_timeout: float = Field(
        10.0,
        gt=0,
        description="Consumer group session timeout in seconds (how fast a dead worker is noticed).",
    )
    heartbeat_interval: float = Field(3.0, gt=0, description="Consumer group heartbeat interval in seconds.")
    one_record_per_batch: bool = Field(
        False,
        description="Produce one record per batch; for brokers reporting end offsets per batch (Tansu).",
    )
    store: str = Field(
        "memory://",
        description="Where tables keep state: memory:// (RAM) or rocksdb:// (on disk, via rocksdict).",
    )
    data_dir: str = Field(".cxpulse-data", description="Folder of the RocksDB store (with store rocksdb://).")
    batch_size: int = Field(
        500,
        ge=1,
        description="Events an agent takes at once; table writes and facts are sent once per batch.",
    )
    producer_linger_seconds: float = Field(
        0.05,
        ge=0,
        le=1,
        description="How long the worker's producer gathers the records it is given one by one (dead "
        "letters) before sending them. Changelogs, facts and contacts are gathered by the agents' "
        "batches instead (CXPULSE_BATCH_WAIT_SECONDS) and sent complete at each batch's end.",
    )
    fetch_max_wait_seconds: float = Field(
        0.1,
        gt=0,
        le=1.5,
        description="How long a fetch request may wait at the broker for new records. Longer lets an "
        "idle worker send fewer requests, but a request for quiet partitions holds back the busy ones "
        "for up to this long at each hop (Faust's own 1.5 s kept records waiting 1.5–2 s at 1 000 ev/s).",
    )
    batch_wait_seconds: float = Field(
        0.1, gt=0, description="How long an agent waits to fill a batch before working on what it has."
    )
    export_windows: list[str] = Field(
        default_factory=lambda: list(WINDOWS),
        description="Windows the windowed gauges are exported for (of 5m, 15m, 1h), as JSON, e.g. "
        '["15m"]: fewer series per scrape; counters and histograms are always exported.',
    )
    export_window_counts: bool = Field(
        True,
        description="Export cxpulse_window_<counter> gauges (increase() over the counters gives the same); "
        "false cuts a scrape's series by a third.",
    )
    log_level: str = Field("info", description="Worker log level.")
    startup_timeout_seconds: float = Field(
        120,
        gt=0,
        description="A worker not in its consumer group with all its topics by then logs why and exits 1.",
    )

    @field_validator("export_windows")
    @classmethod
    def _known_windows(cls, value: list[str]) -> list[str]:
        unknown = [w for w in value if w not in WINDOWS]
        if unknown:
            raise ValueError(f"unknown windows {unknown}; the windows are {list(WINDOWS)}")
        return value


class ValidationSettings(_Role):
    """What an event must be to be counted (the rest is parked with its reason)."""

    title = "Event validation"

    max_event_bytes: int = Field(65536, ge=256, description="Events larger than this are rejected.")
    max_future_seconds: float = Field(
        3600, ge=0, description="Events this far ahead of the clock are rejected."
    )
    max_age_days: float = Field(35, gt=0, description="Events older than this are rejected.")
    ces_min: int = Field(1, description="Lowest customer effort score.")
    ces_max: int = Field(7, description="Highest customer effort score.")

    def limits(self) -> Limits:
        return Limits(
            max_bytes=self.max_event_bytes,
            ces_scale=(self.ces_min, self.ces_max),
            max_future_seconds=self.max_future_seconds,
            max_age_seconds=self.max_age_days * 86400,
        )


class PolicySettings(_Role):
    """Targets, limits, staffing, costs and opening hours.

    The first fourteen are every queue's unless ``queue_settings`` overrides them for one;
    opening hours are per queue in ``business_hours``.
    """

    title = "KPI policy"

    first_response_target_seconds: float = Field(
        DEFAULTS.first_response_target_seconds, gt=0, description="First response SLA target."
    )
    service_level_seconds: float = Field(
        DEFAULTS.service_level_seconds, gt=0, description="Calls answered within this meet the service level."
    )
    short_abandon_seconds: float = Field(
        DEFAULTS.short_abandon_seconds, ge=0, description="Callers hanging up sooner are short abandons."
    )
    hourly_cost: float = Field(
        DEFAULTS.hourly_cost, ge=0, description="Cost of one agent-hour, for cost per conversation."
    )
    service_level_target: float = Field(
        DEFAULTS.service_level_target,
        gt=0,
        lt=1,
        description="Share of calls to answer within SERVICE_LEVEL_SECONDS: the service-level alerts, "
        "dashboards, cxpulse top and staffing read it.",
    )
    max_occupancy: float = Field(
        DEFAULTS.max_occupancy,
        gt=0,
        le=1,
        description="The busiest agents may be planned to be, for staffing (Erlang C).",
    )
    abandonment_limit: float = Field(
        DEFAULTS.abandonment_limit,
        gt=0,
        lt=1,
        description="Share of calls abandoned (short abandons left out) above which a queue alerts.",
    )
    escalation_limit: float = Field(
        DEFAULTS.escalation_limit,
        gt=0,
        lt=1,
        description="Share of new tickets escalated above which a rise in escalations alerts.",
    )
    first_response_objective: float = Field(
        DEFAULTS.first_response_objective,
        gt=0,
        lt=1,
        description="Share of first replies to send within FIRST_RESPONSE_TARGET_SECONDS: the "
        "objective of the first-response SLO and its burn-rate alerts.",
    )
    first_response_breach_limit: float = Field(
        DEFAULTS.first_response_breach_limit,
        gt=0,
        lt=1,
        description="Share of first replies later than their target above which a rise in breaches alerts.",
    )
    open_grace_seconds: float = Field(
        DEFAULTS.open_grace_seconds,
        ge=0,
        description="Seconds after a queue opens (by its calendar) before alerts about the floor may "
        "fire: the morning's first calls meet agents still logging in.",
    )
    shrinkage: float = Field(
        DEFAULTS.shrinkage,
        ge=0,
        lt=1,
        description="Share of paid time agents are not on the phones (breaks, training): a forecast "
        "interval's rota is its required agents ÷ (1 − shrinkage).",
    )
    day_start_hour: QuarterHourOfDay = Field(
        DEFAULTS.day_start_hour,
        description="Hour of the local day (in the queue's calendar zone, else UTC) at which the "
        "cxpulse_today_* counts start again: 0 is midnight, 6.5 is 06:30; quarter-hours only.",
    )
    forecast_interval_minutes: Literal[15, 30] = Field(
        FORECAST_DEFAULTS.interval_seconds // 60,
        description="Length of a forecast interval, aligned to the queue's local midnight.",
    )
    forecast_weeks: int = Field(
        FORECAST_DEFAULTS.weeks,
        ge=1,
        le=12,
        description="Weeks of arrival history a forecast averages (and keeps).",
    )
    forecast_intervals: int = Field(
        FORECAST_DEFAULTS.intervals,
        ge=1,
        le=96,
        description="Forecast intervals exported ahead, the current one included.",
    )
    queue_settings: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description='Per-queue overrides as JSON, e.g. {"billing": {"first_response_target_seconds": 600}}.',
    )
    business_hours: dict[str, JsonObject] = Field(
        default_factory=dict,
        description='Opening hours per queue as JSON ("*": every other queue), e.g. {"billing": {"zone": '
        '"Europe/Paris", "hours": {"mon": "09:00-18:00"}, "holidays": ["2026-12-25"]}}; see docs/kpis.md.',
    )
    ticket_priorities: list[str] = Field(
        list(DEFAULT_PRIORITIES),
        max_length=20,
        description="Ticket priorities counted apart (the priority label's values, lower case; any "
        'other value counts as "other"), as JSON, e.g. ["urgent", "high", "normal", "low"]; [] turns '
        "counting by priority off.",
    )
    priority_first_response_targets: dict[str, float] = Field(
        default_factory=dict,
        description="First-response targets in seconds of the priorities that have their own, as JSON, e.g. "
        '{"urgent": 900, "high": 3600}; a ticket of another priority, or none, has its queue\'s.',
    )
    missed_offers_in_a_row: int = Field(
        3,
        ge=1,
        le=50,
        description="Offers an available agent may miss in a row (rang out or rejected) before counting in "
        "cxpulse_agents_missing_offers, which CxpulseAgentsMissingOffers warns on.",
    )
    repeat_contact_days: float = Field(7, gt=0, description="A contact this soon after another is a repeat.")
    conversion_days: float = Field(
        7, gt=0, description="A purchase this soon after a contact is a conversion."
    )
    customer_base: int = Field(0, ge=0, description="Active customers before the first lifecycle event.")

    @field_validator("queue_settings")
    @classmethod
    def _known_queue_settings(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        known = {f.name for f in fields(QueuePolicy)} - {"calendar"}
        for queue, overrides in value.items():
            unknown = set(overrides) - known
            if unknown:
                raise ValueError(
                    f"queue {queue!r}: unknown {sorted(unknown)}; per-queue settings: {sorted(known)}"
                )
            hour = overrides.get("day_start_hour", 0.0)
            try:
                _QUARTER_HOUR_OF_DAY.validate_python(hour)  # the bounds of the setting itself
            except ValidationError:
                raise ValueError(
                    f"queue {queue!r}: day_start_hour {hour} is not a quarter-hour of the day "
                    "(0 to 23.75, e.g. 6 or 6.5)"
                ) from None
        return value

    @field_validator("ticket_priorities")
    @classmethod
    def _priorities_are_labels(cls, value: list[str]) -> list[str]:
        for priority in value:
            if priority != priority.strip().lower() or not 0 < len(priority) <= 50 or priority == "other":
                raise ValueError(
                    f"priority {priority!r}: priorities are lower-case names of 1 to 50 characters, "
                    'not "other" (what any unnamed value counts as)'
                )
        return value

    @model_validator(mode="after")
    def _targets_name_priorities(self) -> PolicySettings:
        unknown = sorted(set(self.priority_first_response_targets) - set(self.ticket_priorities))
        if unknown:
            raise ValueError(
                f"CXPULSE_PRIORITY_FIRST_RESPONSE_TARGETS names {unknown}, which CXPULSE_TICKET_PRIORITIES "
                f"does not list ({self.ticket_priorities}): add them there or remove their targets"
            )
        if any(seconds <= 0 for seconds in self.priority_first_response_targets.values()):
            raise ValueError(
                "CXPULSE_PRIORITY_FIRST_RESPONSE_TARGETS: every target is a positive number of seconds"
            )
        return self

    @field_validator("business_hours")
    @classmethod
    def _calendars_parse(cls, value: dict[str, JsonObject]) -> dict[str, JsonObject]:
        for queue, doc in value.items():
            try:
                Calendar.parse(doc)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ValueError(
                    f'queue {queue!r}: {exc}; a calendar is {{"zone": "Europe/Paris", "hours": '
                    f'{{"mon": "09:00-18:00", ...}}, "holidays": ["2026-12-25"]}}'
                ) from None
        return value

    def policy(self) -> Policy:
        default = QueuePolicy(**{name: getattr(self, name) for name in PER_QUEUE})
        rest: JsonObject = {
            "repeat_contact_days": self.repeat_contact_days,
            "conversion_days": self.conversion_days,
            "customer_base": self.customer_base,
            "priorities": tuple(self.ticket_priorities),
            "priority_targets": dict(self.priority_first_response_targets),
            "missed_offers_in_a_row": self.missed_offers_in_a_row,
            "forecast": ForecastPolicy(
                self.forecast_interval_minutes * 60, self.forecast_weeks, self.forecast_intervals
            ),
        }
        calendars = {queue: Calendar.parse(doc) for queue, doc in self.business_hours.items()}
        return Policy.build(default, self.queue_settings, calendars, **rest)


class SecuritySettings(_Role):
    """What protects personal data and the metrics endpoint (docs/security.md)."""

    title = "Security"

    pseudonymise_key: SecretStr | None = Field(
        None,
        description="Secret (16+ characters) to replace customer and agent ids by keyed hashes on entry, "
        "so no state, changelog or dead-letter record holds a raw id; see docs/security.md. Secret.",
    )
    web_config_file: str | None = Field(
        None,
        description="Prometheus exporter web-config file: TLS (tls_server_config) and basic auth "
        "(basic_auth_users, bcrypt) for /metrics; see docs/security.md.",
    )

    agent_names_file: str | None = Field(
        None,
        description="CSV file of `agent id,display name` lines for the agents view (/agents, `cxpulse top`): "
        "ids as the events carry them (pseudonymised with the key, when one is set). Names stay in the "
        "worker's memory: never in a table, topic or metric.",
    )

    @model_validator(mode="after")
    def _key_works(self) -> Self:
        self.pseudonyms()
        self.agent_names()
        return self

    def agent_names(self) -> dict[str, str]:
        """Display names by agent id as the tables hold it (the pseudonym, with a key)."""
        if self.agent_names_file is None:
            return {}
        try:
            with open(self.agent_names_file, newline="", encoding="utf-8") as source:
                rows = [row for row in csv.reader(source) if row and not row[0].startswith("#")]
        except OSError as exc:
            raise ValueError(
                f"CXPULSE_AGENT_NAMES_FILE: cannot read {self.agent_names_file}: {exc.strerror}"
            ) from None
        bad = [i for i, row in enumerate(rows, 1) if len(row) != 2 or not row[0].strip()]
        if bad:
            raise ValueError(
                f"CXPULSE_AGENT_NAMES_FILE: row {bad[0]} of {self.agent_names_file} is not "
                "`agent id,display name` (quote a name that has a comma in it)"
            )
        pseudonyms = self.pseudonyms()
        ids = (lambda raw: raw) if pseudonyms is None else pseudonyms
        return {ids(agent.strip()): name.strip() for agent, name in rows}

    def pseudonyms(self) -> Pseudonyms | None:
        """The keyed hash applied to personal ids on entry, if one is configured."""
        key = reveal(self.pseudonymise_key)
        return None if key is None else Pseudonyms(key)


class IngestSettings(_Role):
    """The ingest gateway (``cxpulse ingest``): who may post, how vendor events map (docs/ingest.md)."""

    title = "Ingest gateway"

    ingest_host: str = Field("0.0.0.0", description="Address the ingest gateway binds to.")
    ingest_port: int = Field(8088, ge=1, le=65535, description="Port of the ingest gateway.")
    ingest_tokens: SecretStr | None = Field(
        None,
        description='Bearer tokens of the senders allowed to post, as JSON {"sender": "token", ...} '
        "(or one bare token). Secret.",
    )
    ingest_public_url: str | None = Field(
        None,
        description="The gateway's URL as the platforms call it (e.g. https://cx.example.com), for "
        "Twilio's signature; default: the URL of the request.",
    )
    ingest_max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Larger requests are refused with 413."
    )
    ingest_max_batch: int = Field(1000, ge=1, description="Most events one request may carry (else 413).")
    ingest_kafka_timeout_seconds: float = Field(
        10, gt=0, description="How long a request waits for Kafka's acknowledgement before a 503."
    )
    ingest_idempotent: bool = Field(
        True,
        description="Idempotent producer for the gateway. Brokers without it (the demo's embedded one) "
        "need false: a retried batch may then be written twice, which the workers' event_id dedupe absorbs.",
    )
    ingest_replay_window_seconds: float = Field(
        300, gt=0, description="Signed webhooks older or newer than this are refused (replayed requests)."
    )
    ingest_queues: dict[str, str] = Field(
        default_factory=dict,
        description='Vendor queue ids to queue labels as JSON, e.g. {"zendesk:360001": "billing", '
        '"connect:6ab3c1": "support"}; an id without an entry keeps its own name.',
    )
    ingest_channels: dict[str, str] = Field(
        default_factory=dict,
        description='Vendor channel names to channel labels as JSON, e.g. {"native_messaging": "chat"}.',
    )
    zendesk_signing_secret: SecretStr | None = Field(
        None,
        description="Signing secret of the Zendesk webhook, to check X-Zendesk-Webhook-Signature. Secret.",
    )
    zendesk_escalation_groups: list[str] = Field(
        default_factory=list, description="Zendesk group ids whose assignment counts as an escalation."
    )
    zendesk_escalation_priorities: list[str] = Field(
        default_factory=lambda: ["urgent"], description="Zendesk priorities whose setting counts as one."
    )
    zendesk_escalation_tags: list[str] = Field(
        default_factory=lambda: ["escalated"], description="Zendesk tags whose adding counts as one."
    )
    ingest_agent_queues: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Queues each vendor agent serves, for platforms whose agent events name none, as JSON, "
        'e.g. {"1001@default": ["support"]} (FreeSWITCH mod_callcenter).',
    )
    freeswitch_password: SecretStr | None = Field(
        None, description="Password of FreeSWITCH's event socket, for `cxpulse ingest freeswitch`. Secret."
    )
    zammad_webhook_token: SecretStr | None = Field(
        None, description="HMAC token of the Zammad webhook, to check X-Hub-Signature. Secret."
    )
    intercom_client_secret: SecretStr | None = Field(
        None, description="Client secret of the Intercom app, to check X-Hub-Signature. Secret."
    )
    zammad_escalation_groups: list[str] = Field(
        default_factory=list, description="Zammad group names a ticket escalates to (its queue then)."
    )
    zammad_escalation_priorities: list[str] = Field(
        default_factory=lambda: ["3 high"],
        description="Zammad priorities whose setting counts as an escalation.",
    )
    exit_outcomes: dict[str, Literal["exit", "abandon"]] = Field(
        default_factory=dict,
        description="How a caller leaving a queue unanswered without hanging up counts, per kind, as JSON: "
        '"exit" (offered, neither answered nor abandoned; the default) or "abandon", e.g. {"key_press": '
        '"abandon"}. Kinds: ' + ", ".join(EXIT_KINDS) + "; docs/ingest.md.",
    )
    twilio_auth_token: SecretStr | None = Field(
        None, description="Auth token of the Twilio account, to check X-Twilio-Signature. Secret."
    )

    @field_validator("exit_outcomes")
    @classmethod
    def _known_exits(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(EXIT_KINDS)
        if unknown:
            raise ValueError(f"unknown exit kinds {sorted(unknown)}; kinds: {', '.join(EXIT_KINDS)}")
        return value

    @model_validator(mode="after")
    def _tokens_parse(self) -> Self:
        self.ingest_senders()
        return self

    def ingest_senders(self) -> dict[str, str]:
        """Sender name → bearer token, from CXPULSE_INGEST_TOKENS."""
        raw = reveal(self.ingest_tokens)
        if not raw:
            return {}
        if not raw.lstrip().startswith("{"):
            return {"default": raw.strip()}
        tokens = json.loads(raw)
        if not isinstance(tokens, dict) or not all(isinstance(v, str) and v for v in tokens.values()):
            raise ValueError('CXPULSE_INGEST_TOKENS must be {"sender": "token", ...} or one token')
        return tokens


# In the order docs/configuration.md and ``cxpulse config`` list them.
ROLES: tuple[type[_Role], ...] = (
    KafkaAccessSettings,
    TopicSettings,
    WorkerSettings,
    ValidationSettings,
    PolicySettings,
    SecuritySettings,
    IngestSettings,
)


class Settings(  # bases in reverse: pydantic lists the last base's fields first
    IngestSettings,
    SecuritySettings,
    PolicySettings,
    ValidationSettings,
    WorkerSettings,
    TopicSettings,
    KafkaAccessSettings,
):
    """Everything a cxpulse process can be told from its environment."""


def reveal(secret: SecretStr | None) -> str | None:
    """A secret setting's value, for the one place that hands it to a client; never logged."""
    return None if secret is None else secret.get_secret_value()
