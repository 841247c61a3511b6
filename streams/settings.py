"""Runtime settings, read from ``CXPULSE_*`` environment variables.

One settings object feeds the worker, the simulator and the demo, so the names a
deployment sets (docker compose, Kubernetes) are the names documented here.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a cxpulse process can be told from its environment."""

    model_config = SettingsConfigDict(env_prefix="CXPULSE_", extra="ignore")

    broker: str = Field(
        "kafka://127.0.0.1:9092",
        description="Kafka bootstrap servers, e.g. kafka://host1:9092;host2:9092.",
    )
    app_id: str = Field("cxpulse", description="Consumer group id and prefix of internal topics.")
    tickets_topic: str = Field("tickets", description="Topic of ticket events, keyed by ticket_id.")
    calls_topic: str = Field("calls", description="Topic of call events, keyed by call_id.")
    deadletter_topic: str = Field(
        "cxpulse-deadletter", description="Where events that fail validation are parked with their reason."
    )
    partitions: int = Field(
        4, ge=1, description="Partitions of the source and internal topics (all must have this many)."
    )
    replication_factor: int = Field(1, ge=1, description="Replication factor of topics cxpulse creates.")
    web_host: str = Field("0.0.0.0", description="Address the worker's HTTP server binds to.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of /metrics on the worker.")
    bucket_seconds: int = Field(60, ge=1, description="Width of the event-time buckets behind windowed KPIs.")
    grace_seconds: int = Field(
        120, ge=0, description="How late (event time) an event may arrive and still enter its bucket."
    )
    max_event_bytes: int = Field(65536, ge=256, description="Events larger than this are rejected.")
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
    log_level: str = Field("info", description="Worker log level.")
